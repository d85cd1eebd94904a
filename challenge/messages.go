package challenge

import (
	"strings"
)

// Message keys: what the user is told. A key never says whether the user
// exists or which check failed before the password was verified.
const (
	msgBadCredentials    = "bad_credentials"
	msgLocked            = "locked"
	msgNotAllowed        = "not_allowed"
	msgUnavailable       = "unavailable"
	msgNoMethod          = "no_method"
	msgTOTPPrompt        = "totp_prompt"
	msgWrongCode         = "wrong_code"
	msgCodeFailed        = "code_failed"
	msgExpired           = "expired"
	msgNoUsableMethod    = "no_usable_method"
	msgMenu              = "menu"
	msgBadChoice         = "bad_choice"
	msgOptionTOTP        = "option_totp"
	msgOptionSMS         = "option_sms"
	msgSMSPrompt         = "sms_prompt"
	msgSMSBody           = "sms_body"
	msgSMSLimited        = "sms_limited"
	msgSMSFailed         = "sms_failed"
	msgWrongSMSCode      = "wrong_sms_code"
	msgSuffixSMSSent     = "suffix_sms_sent"
	msgSuffixNoPhone     = "suffix_no_phone"
	msgSuffixUnsupported = "suffix_unsupported"
)

var builtin = map[string]map[string]string{
	"en": {
		msgBadCredentials:    "Sign-in failed: the ID or password is incorrect.",
		msgLocked:            "Too many failed attempts. Try again later, or contact the help desk.",
		msgNotAllowed:        "Your account is not permitted to use the VPN. Contact the help desk.",
		msgUnavailable:       "The sign-in service is temporarily unavailable. Try again in a few minutes.",
		msgNoMethod:          "Multi-factor authentication is required. Register a sign-in method at {enroll_url}, then try again.",
		msgTOTPPrompt:        "Enter the 6-digit code from your authenticator app.",
		msgWrongCode:         "That code is not correct. Enter the current 6-digit code.",
		msgCodeFailed:        "Sign-in failed: the code was not correct.",
		msgExpired:           "The sign-in timed out. Start again.",
		msgNoUsableMethod:    "None of your sign-in methods can be used for the VPN. Add an authenticator app or a phone at {enroll_url}.",
		msgMenu:              "Choose how to confirm: {menu}. Enter the number, or a 6-digit code from your app.",
		msgBadChoice:         "That is not one of the choices. {menu}",
		msgOptionTOTP:        "code from app",
		msgOptionSMS:         "SMS to {last4}",
		msgSMSPrompt:         "Enter the 6-digit code sent by SMS to {phone}.",
		msgSMSBody:           "Your VPN sign-in code is {code}. It expires in {minutes} minutes. Never tell anyone this code.",
		msgSMSLimited:        "A code was sent to this phone a moment ago. Wait a little, or choose another method.",
		msgSMSFailed:         "The SMS could not be sent. Try again later or choose another method.",
		msgWrongSMSCode:      "That code is not correct. Enter the 6-digit code sent by SMS to {phone}.",
		msgSuffixSMSSent:     "A code was sent by SMS to {phone}. Sign in again with your password, a comma and the code (password,123456).",
		msgSuffixNoPhone:     "No phone for SMS codes is registered. Use password,CODE with the code from your app.",
		msgSuffixUnsupported: "That method cannot be used here. Sign in with password,CODE using the code from your app or password,sms.",
	},
	"ja": {
		msgBadCredentials:    "サインインできません。IDまたはパスワードが正しくありません。",
		msgLocked:            "失敗が続いたため一時的にサインインできません。しばらくしてから再度お試しいただくか、ヘルプデスクにお問い合わせください。",
		msgNotAllowed:        "このアカウントはVPNを利用できません。ヘルプデスクにお問い合わせください。",
		msgUnavailable:       "サインインサービスが一時的に利用できません。数分後に再度お試しください。",
		msgNoMethod:          "多要素認証が必要です。{enroll_url} でサインイン方法を登録してから再度お試しください。",
		msgTOTPPrompt:        "認証アプリに表示されている6桁のコードを入力してください。",
		msgWrongCode:         "コードが正しくありません。現在の6桁のコードを入力してください。",
		msgCodeFailed:        "サインインできません。コードが正しくありません。",
		msgExpired:           "サインインの有効期限が切れました。最初からやり直してください。",
		msgNoUsableMethod:    "登録済みのサインイン方法はVPNでは使えません。{enroll_url} で認証アプリか電話を登録してください。",
		msgMenu:              "確認方法を選んでください：{menu}。番号を入力するか、認証アプリの6桁のコードを入力してください。",
		msgBadChoice:         "選択肢にない番号です。{menu}",
		msgOptionTOTP:        "認証アプリのコード",
		msgOptionSMS:         "SMS（{last4}）",
		msgSMSPrompt:         "{phone} にSMSで送信した6桁のコードを入力してください。",
		msgSMSBody:           "VPNサインインの確認コードは {code} です。{minutes}分間有効です。このコードは誰にも教えないでください。",
		msgSMSLimited:        "この電話には先ほどコードを送信しました。少し待つか、別の方法を選んでください。",
		msgSMSFailed:         "SMSを送信できませんでした。後でもう一度お試しいただくか、別の方法を選んでください。",
		msgWrongSMSCode:      "コードが正しくありません。{phone} にSMSで送信した6桁のコードを入力してください。",
		msgSuffixSMSSent:     "{phone} にSMSでコードを送信しました。パスワードの後にカンマとコードを付けて（パスワード,123456）もう一度サインインしてください。",
		msgSuffixNoPhone:     "SMSを受け取る電話が登録されていません。認証アプリのコードを使って「パスワード,コード」でサインインしてください。",
		msgSuffixUnsupported: "その方法はここでは使えません。「パスワード,コード」（認証アプリのコード）または「パスワード,sms」でサインインしてください。",
	},
}

// messages renders message keys in the configured languages, one
// Reply-Message text per language.
type messages struct {
	langs     []string
	overrides map[string]map[string]string
	enrollURL string
}

func (m messages) render(key string) []string { return m.renderWith(key, nil) }

// renderWith renders key in every configured language, replacing
// {name} with params[name].
func (m messages) renderWith(key string, params map[string]string) []string {
	out := make([]string, 0, len(m.langs))
	for _, l := range m.langs {
		out = append(out, m.renderOne(l, key, params))
	}
	return out
}

// renderOne renders key in one language.
func (m messages) renderOne(lang, key string, params map[string]string) string {
	text, ok := m.overrides[key][lang]
	if !ok {
		text = builtin[lang][key]
	}
	url := m.enrollURL
	if url == "" {
		url = map[string]string{"en": "the enrollment portal", "ja": "登録ポータル"}[lang]
	}
	text = strings.ReplaceAll(text, "{enroll_url}", url)
	for k, v := range params {
		text = strings.ReplaceAll(text, "{"+k+"}", v)
	}
	return text
}
