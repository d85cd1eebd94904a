package challenge

import (
	"strings"
)

// Message keys: what the user is told. A key never says whether the user
// exists or which check failed before the password was verified.
const (
	msgBadCredentials = "bad_credentials"
	msgLocked         = "locked"
	msgNotAllowed     = "not_allowed"
	msgUnavailable    = "unavailable"
	msgNoMethod       = "no_method"
	msgTOTPPrompt     = "totp_prompt"
	msgWrongCode      = "wrong_code"
	msgCodeFailed     = "code_failed"
	msgExpired        = "expired"
)

var builtin = map[string]map[string]string{
	"en": {
		msgBadCredentials: "Sign-in failed: the ID or password is incorrect.",
		msgLocked:         "Too many failed attempts. Try again later, or contact the help desk.",
		msgNotAllowed:     "Your account is not permitted to use the VPN. Contact the help desk.",
		msgUnavailable:    "The sign-in service is temporarily unavailable. Try again in a few minutes.",
		msgNoMethod:       "Multi-factor authentication is required. Register a sign-in method at {enroll_url}, then try again.",
		msgTOTPPrompt:     "Enter the 6-digit code from your authenticator app.",
		msgWrongCode:      "That code is not correct. Enter the current 6-digit code.",
		msgCodeFailed:     "Sign-in failed: the code was not correct.",
		msgExpired:        "The sign-in timed out. Start again.",
	},
	"ja": {
		msgBadCredentials: "サインインできません。IDまたはパスワードが正しくありません。",
		msgLocked:         "失敗が続いたため一時的にサインインできません。しばらくしてから再度お試しいただくか、ヘルプデスクにお問い合わせください。",
		msgNotAllowed:     "このアカウントはVPNを利用できません。ヘルプデスクにお問い合わせください。",
		msgUnavailable:    "サインインサービスが一時的に利用できません。数分後に再度お試しください。",
		msgNoMethod:       "多要素認証が必要です。{enroll_url} でサインイン方法を登録してから再度お試しください。",
		msgTOTPPrompt:     "認証アプリに表示されている6桁のコードを入力してください。",
		msgWrongCode:      "コードが正しくありません。現在の6桁のコードを入力してください。",
		msgCodeFailed:     "サインインできません。コードが正しくありません。",
		msgExpired:        "サインインの有効期限が切れました。最初からやり直してください。",
	},
}

// messages renders message keys in the configured languages, one
// Reply-Message text per language.
type messages struct {
	langs     []string
	overrides map[string]map[string]string
	enrollURL string
}

func (m messages) render(key string) []string {
	out := make([]string, 0, len(m.langs))
	for _, l := range m.langs {
		text, ok := m.overrides[key][l]
		if !ok {
			text = builtin[l][key]
		}
		url := m.enrollURL
		if url == "" {
			url = map[string]string{"en": "the enrollment portal", "ja": "登録ポータル"}[l]
		}
		out = append(out, strings.ReplaceAll(text, "{enroll_url}", url))
	}
	return out
}
