package portal

import "maps"

// emailTexts are the email pages' and the mails' strings, merged into
// texts. Mails take the user ID and a detail (a method, an address).
var emailTexts = map[string]map[string]string{
	"ja": {
		"email_title":            "通知用メールアドレス",
		"email_intro":            "セキュリティ情報が変更されたとき（サインイン方法の追加・削除、既定の方法や電話番号の変更）にお知らせするメールアドレスを登録してください。確認のため、このアドレスに6桁のコードを送ります。",
		"email_not_signin":       "このメールアドレスは通知専用です。サインイン（本人確認）には使えません。",
		"email_outside":          "できるだけ大学のメール以外のアドレス（個人のメールなど）を登録してください。大学のアカウントが不正に使われたときにも通知が届くようにするためです。",
		"email_current":          "現在のアドレス：",
		"email_address":          "メールアドレス",
		"email_send":             "確認コードを送る",
		"email_skip":             "後で登録する",
		"email_delete":           "このアドレスを削除",
		"email_unavailable":      "このサーバーはメールを送信できないため、通知用メールアドレスは登録できません。",
		"email_own_warning":      "%s は大学のメールアドレスです。できれば大学以外のアドレスを登録してください。このアドレスでよければ、もう一度「確認コードを送る」を押してください。",
		"email_verify_title":     "メールアドレスの確認",
		"email_code_sent":        "%s に6桁の確認コードを送りました。メールに書かれたコードを入力してください（%d分間有効）。",
		"email_verify":           "確認して登録",
		"email_again":            "別のアドレスにする・コードを再送する",
		"err_email_address":      "メールアドレスの形式が正しくありません（例：taro@example.com）。",
		"err_email_same":         "このアドレスはすでに登録されています。",
		"err_email_limited":      "コードの送信回数が上限に達しました。しばらくしてから再度お試しください。",
		"err_email_send_failed":  "メールを送信できませんでした。アドレスを確認するか、しばらくしてから再度お試しください。",
		"err_email_code":         "コードが正しくありません。メールに書かれた6桁のコードを入力してください。",
		"err_email_code_expired": "コードの有効期限が切れたか、間違いが続きました。もう一度コードを送ってください。",
		"notice_email_saved":     "通知用メールアドレスを登録しました。",
		"notice_email_deleted":   "通知用メールアドレスを削除しました。",
		"sec_email":              "通知用メール",
		"sec_email_none":         "登録されていません。",
		"sec_email_add":          "メールアドレスを追加",
		"sec_email_off":          "このサーバーではメールを送信できないため、通知用メールアドレスは利用できません。",
		"kind_email":             "メール（通知専用）",

		"mail_code_subject":    "【%s】確認コード",
		"mail_code_body":       "多要素認証 登録ポータルで、このアドレスを通知用メールアドレスとして登録しようとしています。\n\n確認コード：%s\n\nポータルの画面にこのコードを入力してください（%d分間有効）。\n心当たりがない場合は、このメールを無視してください。アドレスは登録されません。\n",
		"mail_change_subject":  "【%s】セキュリティ情報が変更されました",
		"mail_method_added":    "VPNアカウント（%s）に新しいサインイン方法が追加されました：%s",
		"mail_method_deleted":  "VPNアカウント（%s）のサインイン方法が削除されました：%s",
		"mail_default_changed": "VPNアカウント（%s）の既定のサインイン方法が変更されました：%s",
		"mail_phone_changed":   "VPNアカウント（%s）の電話番号が変更されました。新しい番号：%s",
		"mail_email_added":     "このアドレスがVPNアカウント（%s）の通知用メールアドレスとして登録されました。%s",
		"mail_email_changed":   "VPNアカウント（%s）の通知用メールアドレスが変更されました。今後の通知は %s に送られます。",
		"mail_email_deleted":   "VPNアカウント（%s）の通知用メールアドレス（%s）が削除されました。今後このアドレスには通知が届きません。",
		"mail_when":            "日時：%s",
		"mail_where":           "操作：多要素認証 登録ポータル",
		"mail_footer":          "心当たりがない場合は、すぐにヘルプデスクに連絡してください。第三者があなたのパスワードを知っている可能性があります。\n\nこのメールは送信専用です。返信しないでください。\n",
	},
	"en": {
		"email_title":            "Notification email",
		"email_intro":            "Register an email address to be told when your security info changes (a sign-in method added or deleted, the default method or a phone number changed). To check the address, a 6-digit code is sent to it.",
		"email_not_signin":       "This address is for notifications only: it cannot be used to sign in.",
		"email_outside":          "If you can, use an address outside the university's mail (a personal address), so that notifications still reach you if your university account is misused.",
		"email_current":          "Current address:",
		"email_address":          "Email address",
		"email_send":             "Send a code",
		"email_skip":             "Later",
		"email_delete":           "Delete this address",
		"email_unavailable":      "This server cannot send mail, so a notification email cannot be registered.",
		"email_own_warning":      "%s is a university address. If you can, use one outside the university. To use this address anyway, press “Send a code” again.",
		"email_verify_title":     "Confirm your email address",
		"email_code_sent":        "A 6-digit code was sent to %s. Enter the code from the mail (valid for %d minutes).",
		"email_verify":           "Confirm and save",
		"email_again":            "Use another address or send the code again",
		"err_email_address":      "This is not an email address (for example taro@example.com).",
		"err_email_same":         "This address is already registered.",
		"err_email_limited":      "Too many codes were sent. Try again later.",
		"err_email_send_failed":  "The mail could not be sent. Check the address, or try again later.",
		"err_email_code":         "That code is not right. Enter the 6-digit code from the mail.",
		"err_email_code_expired": "The code expired or was entered wrongly too often. Send a new code.",
		"notice_email_saved":     "The notification email was saved.",
		"notice_email_deleted":   "The notification email was deleted.",
		"sec_email":              "Notification email",
		"sec_email_none":         "None registered.",
		"sec_email_add":          "Add email",
		"sec_email_off":          "This server cannot send mail, so notification emails are not available.",
		"kind_email":             "Email (notifications only)",

		"mail_code_subject":    "%s: your verification code",
		"mail_code_body":       "Someone is registering this address for notifications in the MFA enrollment portal.\n\nVerification code: %s\n\nEnter this code on the portal page (valid for %d minutes).\nIf this was not you, ignore this mail: the address is not registered.\n",
		"mail_change_subject":  "%s: your security info was changed",
		"mail_method_added":    "A new sign-in method was added to your VPN account (%s): %s",
		"mail_method_deleted":  "A sign-in method was deleted from your VPN account (%s): %s",
		"mail_default_changed": "The default sign-in method of your VPN account (%s) was changed to: %s",
		"mail_phone_changed":   "A phone number of your VPN account (%s) was changed. The new number: %s",
		"mail_email_added":     "This address now receives the notifications of your VPN account (%s).%s",
		"mail_email_changed":   "The notification email of your VPN account (%s) was changed: notifications now go to %s.",
		"mail_email_deleted":   "The notification email (%[2]s) of your VPN account (%[1]s) was deleted: it receives no more notifications.",
		"mail_when":            "When: %s",
		"mail_where":           "Where: the MFA enrollment portal",
		"mail_footer":          "If this was not you, contact the help desk at once: someone may know your password.\n\nThis mail was sent automatically; do not reply.\n",
	},
}

func init() {
	notices["email_saved"] = "notice_email_saved"
	notices["email_deleted"] = "notice_email_deleted"
	for lang, t := range emailTexts {
		maps.Copy(texts[lang], t)
	}
}
