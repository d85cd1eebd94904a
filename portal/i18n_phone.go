package portal

import "maps"

// phoneTexts are the phone pages' strings, merged into texts (kept apart
// so that changes to other pages' strings merge cleanly).
var phoneTexts = map[string]map[string]string{
	"ja": {
		"phone_title_phone":           "電話を追加（SMS・音声通話）",
		"phone_title_alternate_phone": "代替の電話を追加（音声通話）",
		"phone_title_office_phone":    "会社電話を追加（音声通話）",
		"phone_title_edit":            "電話番号の変更",
		"phone_verify_title":          "電話番号の確認",
		"phone_intro_phone":           "携帯電話の番号を入力してください。確認のため、SMSで6桁のコードを送るか、電話をおかけします。確認できた番号だけが登録されます。",
		"phone_intro_alternate_phone": "予備の電話番号を入力してください。音声通話でのみ使えます。確認のため電話をおかけします。",
		"phone_intro_office_phone":    "会社（職場）の電話番号と、あれば内線番号を入力してください。音声通話でのみ使えます。確認のため電話をおかけし、つながったら内線番号をダイヤルします。",
		"phone_edit_intro":            "新しい電話番号を確認できたら、現在の番号と置き換えます。現在の番号：",
		"phone_country":               "国・地域",
		"phone_number":                "電話番号",
		"phone_number_hint":           "例：090-1234-5678（先頭の0は自動的に省きます）",
		"phone_extension":             "内線番号（任意、数字のみ）",
		"phone_extension_hint":        "電話がつながった後にダイヤルする番号です。",
		"phone_via":                   "確認の方法",
		"phone_via_sms":               "SMSでコードを受け取る",
		"phone_via_call":              "電話を受けてシャープ（#）を押す",
		"phone_no_sms":                "このサーバーではSMSを送信できないため、SMSでの確認は利用できません。",
		"phone_no_call":               "このサーバーでは電話をかけられないため、音声通話での確認は利用できません。",
		"phone_send":                  "次へ",
		"phone_sms_sent":              "%s にSMSで6桁のコードを送りました。届いたコードを入力してください。",
		"phone_verify":                "確認して登録",
		"phone_calling":               "%s に電話をおかけしています。電話に出て、案内に従ってシャープ（#）を押してから、「続ける」を押してください。",
		"phone_call_continue":         "シャープを押しました。続ける",
		"phone_call_waiting":          "まだ確認できていません。電話に出てシャープ（#）を押してから、もう一度「続ける」を押してください。",
		"phone_again":                 "番号を入力し直す・もう一度送る",

		"err_phone_unavailable":  "このサーバーではSMSの送信も電話の発信もできないため、この種類の電話は登録できません。ヘルプデスクにお問い合わせください。",
		"err_phone_exists":       "この種類の電話はすでに登録されています（各種類1つまで）。番号を変えるには、セキュリティ情報の一覧で「変更」を選んでください。",
		"err_phone_number":       "電話番号の形式が正しくありません。国・地域を選び、数字で入力してください（例：090-1234-5678）。",
		"err_phone_extension":    "内線番号は数字のみで入力してください（10桁まで）。",
		"err_phone_limited":      "短時間に送信・発信が多すぎます。しばらくしてから再度お試しください。",
		"err_phone_send_failed":  "SMSの送信または電話の発信ができませんでした。番号を確かめて再度お試しいただくか、別の方法を選んでください。",
		"err_phone_code":         "コードが正しくありません。SMSで届いた6桁のコードを入力してください。",
		"err_phone_code_expired": "コードの有効期限が切れたか、間違いが多すぎました。もう一度コードを送ってください。",
		"err_phone_call_failed":  "電話で確認できませんでした（応答がない、シャープ以外が押された、または時間切れ）。もう一度お試しください。",
		"notice_phone_changed":   "電話番号を変更しました。",

		"setup_phone":      "認証アプリを使わない場合は、電話（SMSまたは音声通話）も登録できます。",
		"setup_phone_link": "電話を登録する",
		"done_text_phone":  "電話を登録しました。次回から、VPNへの接続でパスワードの後にSMSのコードまたは電話での承認を求められます。",

		"signin_phone_or":    "または、登録済みの電話で本人確認できます：",
		"signin_phone_only":  "登録済みの電話で本人確認をしてください：",
		"signin_phone_sms":   "%s にSMSでコードを送る",
		"signin_phone_call":  "%s に電話をかける",
		"signin_phone_other": "別の方法を選ぶ",
		"stepup_intro_phone": "セキュリティ情報を変更するには、登録済みの電話でもう一度本人確認が必要です（確認後%d分間有効）。パスワードだけを知った第三者が、自分の電話やアプリを登録できないようにするためです。",
		"err_phone_locked":   "不正なサインインの報告があったため、電話での本人確認は停止されています。ヘルプデスクにお問い合わせください。",

		"sec_edit":                "変更",
		"sec_add_phone":           "電話を追加",
		"sec_add_alternate_phone": "代替の電話を追加",
		"sec_add_office_phone":    "会社電話を追加",

		"country_JP": "日本", "country_US": "アメリカ合衆国", "country_GB": "イギリス", "country_CN": "中国",
		"country_KR": "韓国", "country_TW": "台湾", "country_DE": "ドイツ", "country_FR": "フランス",
		"country_AU": "オーストラリア", "country_IN": "インド", "country_CA": "カナダ", "country_SG": "シンガポール",
	},
	"en": {
		"phone_title_phone":           "Add a phone (SMS or call)",
		"phone_title_alternate_phone": "Add an alternate phone (call)",
		"phone_title_office_phone":    "Add an office phone (call)",
		"phone_title_edit":            "Change a phone number",
		"phone_verify_title":          "Verify your phone number",
		"phone_intro_phone":           "Enter your mobile phone number. To check it, we send a 6-digit code by SMS or call you. Only a number that has been checked is registered.",
		"phone_intro_alternate_phone": "Enter a second phone number. It can only be used by call. To check it, we call you.",
		"phone_intro_office_phone":    "Enter your office phone number and, if any, your extension. It can only be used by call. To check it, we call you and dial the extension once the call is answered.",
		"phone_edit_intro":            "Once the new number is checked, it replaces the current one. Current number:",
		"phone_country":               "Country or region",
		"phone_number":                "Phone number",
		"phone_number_hint":           "For example 090-1234-5678 (a leading 0 is dropped for you)",
		"phone_extension":             "Extension (optional, digits only)",
		"phone_extension_hint":        "Dialled after the call is answered.",
		"phone_via":                   "How to check the number",
		"phone_via_sms":               "Send me a code by SMS",
		"phone_via_call":              "Call me; I press the pound key (#)",
		"phone_no_sms":                "This server cannot send SMS, so checking by SMS is not available.",
		"phone_no_call":               "This server cannot place calls, so checking by call is not available.",
		"phone_send":                  "Next",
		"phone_sms_sent":              "We sent a 6-digit code by SMS to %s. Enter the code.",
		"phone_verify":                "Verify and register",
		"phone_calling":               "We are calling %s. Answer, press the pound key (#) as the call asks, then choose Continue.",
		"phone_call_continue":         "I pressed #, continue",
		"phone_call_waiting":          "Not confirmed yet. Answer the call and press the pound key (#), then choose Continue again.",
		"phone_again":                 "Enter the number again or send again",

		"err_phone_unavailable":  "This server can neither send SMS nor place calls, so this kind of phone cannot be registered. Contact the help desk.",
		"err_phone_exists":       "You already have a phone of this kind (one of each kind). To change its number, choose Change next to it on the security info page.",
		"err_phone_number":       "That phone number is not valid. Choose the country or region and enter the number in digits (for example 090-1234-5678).",
		"err_phone_extension":    "An extension is digits only (up to 10).",
		"err_phone_limited":      "Too many codes or calls in a short time. Try again later.",
		"err_phone_send_failed":  "The SMS or call could not be sent. Check the number and try again, or choose another way.",
		"err_phone_code":         "That code is not correct. Enter the 6-digit code from the SMS.",
		"err_phone_code_expired": "The code has expired or was entered wrongly too often. Send a new code.",
		"err_phone_call_failed":  "The call did not confirm the number (no answer, a key other than #, or time ran out). Try again.",
		"notice_phone_changed":   "The phone number was changed.",

		"setup_phone":      "If you prefer not to use an authenticator app, you can register a phone (SMS or call).",
		"setup_phone_link": "Register a phone",
		"done_text_phone":  "Your phone is registered. From now on, after your password the VPN asks for a code by SMS or an approval by call.",

		"signin_phone_or":    "Or verify with a registered phone:",
		"signin_phone_only":  "Verify with your registered phone:",
		"signin_phone_sms":   "Send a code by SMS to %s",
		"signin_phone_call":  "Call %s",
		"signin_phone_other": "Choose another way",
		"stepup_intro_phone": "To change your security info, verify again with your registered phone (valid for %d minutes). This keeps someone who only knows your password from adding their own phone or app.",
		"err_phone_locked":   "Verification by phone is suspended because a sign-in was reported as not yours. Contact the help desk.",

		"sec_edit":                "Change",
		"sec_add_phone":           "Add phone",
		"sec_add_alternate_phone": "Add alternate phone",
		"sec_add_office_phone":    "Add office phone",

		"country_JP": "Japan", "country_US": "United States", "country_GB": "United Kingdom", "country_CN": "China",
		"country_KR": "South Korea", "country_TW": "Taiwan", "country_DE": "Germany", "country_FR": "France",
		"country_AU": "Australia", "country_IN": "India", "country_CA": "Canada", "country_SG": "Singapore",
	},
}

func init() {
	notices["phone_changed"] = "notice_phone_changed"
	for lang, t := range phoneTexts {
		maps.Copy(texts[lang], t)
	}
}
