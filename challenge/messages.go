package challenge

import (
	"strings"
)

// Message keys: what the user is told. A key never says whether the user
// exists or which check failed before the password was verified.
const (
	msgBadCredentials    = "bad_credentials"
	msgLocked            = "locked"
	msgNameForm          = "name_form"
	msgNotAllowed        = "not_allowed"
	msgUnavailable       = "unavailable"
	msgNoMethod          = "no_method"
	msgTOTPPrompt        = "totp_prompt"
	msgWrongCode         = "wrong_code"
	msgCodeFailed        = "code_failed"
	msgExpired           = "expired"
	msgNoUsableMethod    = "no_usable_method"
	msgMenu              = "menu"
	msgMenuNoApp         = "menu_no_app"
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
	msgOptionCall        = "option_call"
	msgOptionPush        = "option_push"
	msgPushPrompt        = "push_prompt"
	msgPushSent          = "push_sent"
	msgPushBody          = "push_body"
	msgPushBodyPortal    = "push_body_portal"
	msgPushLimited       = "push_limited"
	msgPushFailed        = "push_failed"
	msgCallPrompt        = "call_prompt"
	msgCallSpoken        = "call_spoken"
	msgCallFailed        = "call_failed"
	msgCallLimited       = "call_limited"
	msgDenied            = "denied"
	msgWrongNumber       = "wrong_number"
	msgFraud             = "fraud"
	msgNoAnswer          = "no_answer"
	msgInterrupted       = "interrupted"
	msgBusy              = "busy"
	msgShutdown          = "shutdown"
)

var builtin = map[string]map[string]string{
	"en": {
		msgBadCredentials:    "Sign-in failed: the ID or password is incorrect.",
		msgNameForm:          "Sign-in failed: type your ID in lower-case, half-width characters.",
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
		msgMenuNoApp:         "Choose how to confirm: {menu}. Enter the number.",
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
		msgSuffixUnsupported: "That method is not registered or cannot be used here. Sign in with password,CODE (the code from your app), password,sms, password,push or password,call.",
		msgOptionCall:        "call {last4}",
		msgOptionPush:        "approve on {label}",
		msgPushPrompt:        "Open the notification on {label}, choose {number} and approve it, then press Enter here.",
		msgPushSent:          "A notification was sent to {label}. Approve it there.",
		msgPushBody:          "VPN sign-in for {user}. Approve it only if you are signing in now.",
		msgPushBodyPortal:    "Sign-in to the VPN security info portal for {user}. Approve it only if you are signing in there now.",
		msgPushLimited:       "Too many sign-in notifications were sent recently. Use another method or try again in a few minutes.",
		msgPushFailed:        "The notification could not be sent. Try again later or choose another method.",
		msgCallPrompt:        "Calling {phone}. Answer and press # to approve.",
		msgCallSpoken:        "This is the university VPN. A sign-in to your account is waiting. To approve it, press the pound key. If you did not try to sign in, press zero.",
		msgCallFailed:        "The call could not be placed. Try again later or choose another method.",
		msgCallLimited:       "This phone was called or sent a code a moment ago. Wait a little, or choose another method.",
		msgDenied:            "Sign-in failed: it was not approved.",
		msgWrongNumber:       "Sign-in failed: the number chosen on the phone did not match. Sign in again.",
		msgFraud:             "Sign-in refused: you reported it as not yours. Push and phone methods are locked; contact the help desk. Change your password if you did not sign in.",
		msgNoAnswer:          "Sign-in failed: no answer in time. Sign in again.",
		msgInterrupted:       "The sign-in was interrupted. Sign in again.",
		msgBusy:              "The sign-in service is busy. Try again in a minute.",
		msgShutdown:          "The sign-in server is restarting. Try again now.",
	},
	"ja": {
		msgBadCredentials:    "サインインできません。IDまたはパスワードが正しくありません。",
		msgNameForm:          "サインインできません。IDは半角の小文字で入力してください。",
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
		msgMenuNoApp:         "確認方法を選んでください：{menu}。番号を入力してください。",
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
		msgSuffixUnsupported: "その方法は登録されていないか、ここでは使えません。「パスワード,コード」（認証アプリのコード）、「パスワード,sms」、「パスワード,push」または「パスワード,call」でサインインしてください。",
		msgOptionCall:        "電話（{last4}）",
		msgOptionPush:        "{label} で承認",
		msgPushPrompt:        "{label} の通知を開き、{number} を選んで承認してから、ここで Enter を押してください。",
		msgPushSent:          "{label} に通知を送信しました。通知から承認してください。",
		msgPushBody:          "{user} のVPNサインイン要求です。今サインインしている場合のみ承認してください。",
		msgPushBodyPortal:    "{user} のVPNセキュリティ情報ポータルへのサインイン要求です。今サインインしている場合のみ承認してください。",
		msgPushLimited:       "短時間に通知が多すぎます。別の方法を使うか、数分後にもう一度お試しください。",
		msgPushFailed:        "通知を送信できませんでした。後でもう一度お試しいただくか、別の方法を選んでください。",
		msgCallPrompt:        "{phone} に電話をかけています。電話に出て # を押すと承認されます。",
		msgCallSpoken:        "大学のVPNです。あなたのアカウントへのサインイン要求があります。承認する場合はシャープを押してください。心当たりがない場合はゼロを押してください。",
		msgCallFailed:        "電話をかけられませんでした。後でもう一度お試しいただくか、別の方法を選んでください。",
		msgCallLimited:       "この電話には先ほど電話またはコードを送信しました。少し待つか、別の方法を選んでください。",
		msgDenied:            "サインインできません。承認されませんでした。",
		msgWrongNumber:       "サインインできません。電話で選んだ番号が一致しませんでした。もう一度サインインしてください。",
		msgFraud:             "サインインを拒否しました。本人ではないと報告されたため、プッシュ通知と電話による認証を停止しました。ヘルプデスクにお問い合わせください。心当たりがない場合はパスワードを変更してください。",
		msgNoAnswer:          "サインインできません。時間内に応答がありませんでした。もう一度サインインしてください。",
		msgInterrupted:       "サインインが中断されました。もう一度サインインしてください。",
		msgBusy:              "サインインサービスが混み合っています。少し待ってからもう一度お試しください。",
		msgShutdown:          "サインインサーバーが再起動中です。もう一度お試しください。",
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
