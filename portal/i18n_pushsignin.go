package portal

import "maps"

// pushSignInTexts are the strings of signing in (or stepping up) with a
// push app, merged into texts.
var pushSignInTexts = map[string]map[string]string{
	"ja": {
		"signin_push":          "%s で承認する",
		"signin_push_unnamed":  "スマートフォン",
		"signin_push_sent":     "%s の通知を開き、%d を選んで承認してから、「続ける」を押してください。",
		"signin_push_continue": "承認しました。続ける",
		"signin_push_waiting":  "まだ承認されていません。通知を開き、このページの番号を選んで承認してから、もう一度「続ける」を押してください。",

		"err_push_signin_failed": "通知で承認されませんでした（拒否された、違う番号が選ばれた、または時間切れ）。もう一度お試しください。",
		"err_push_limited":       "短時間に通知が多すぎます。数分後にもう一度お試しいただくか、別の方法を選んでください。",
		"err_push_send_failed":   "通知を送信できませんでした。後でもう一度お試しいただくか、別の方法を選んでください。",
		"err_push_locked":        "不正なサインインの報告があったため、通知と電話での本人確認は停止されています。ヘルプデスクにお問い合わせください。",
	},
	"en": {
		"signin_push":          "Approve on %s",
		"signin_push_unnamed":  "your phone",
		"signin_push_sent":     "Open the notification on %s, choose %d and approve, then press Continue.",
		"signin_push_continue": "I approved, continue",
		"signin_push_waiting":  "Not approved yet. Open the notification, choose the number shown on this page and approve, then press Continue again.",

		"err_push_signin_failed": "The notification was not approved (denied, another number chosen, or time ran out). Try again.",
		"err_push_limited":       "Too many notifications in a short time. Try again in a few minutes, or choose another way.",
		"err_push_send_failed":   "The notification could not be sent. Try again later, or choose another way.",
		"err_push_locked":        "Verification by notification and by phone is suspended because a sign-in was reported as not yours. Contact the help desk.",
	},
}

func init() {
	for lang, t := range pushSignInTexts {
		maps.Copy(texts[lang], t)
	}
}
