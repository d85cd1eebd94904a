package portal

import (
	"fmt"
	"time"

	"kakunin/store"
)

// Languages the portal speaks; the first is the default.
var languages = []string{"ja", "en"}

func supported(lang string) bool { return lang == "ja" || lang == "en" }

// texts holds every string of every page, by language then key. A test
// checks that both languages have the same keys.
var texts = map[string]map[string]string{
	"ja": {
		"app_name":      "多要素認証 登録ポータル",
		"lang_switch":   "English",
		"signout":       "サインアウト",
		"nav_security":  "セキュリティ情報",
		"nav_apply":     "多要素認証利用申請",
		"signed_in_as":  "サインイン中：%s",
		"cancel":        "キャンセル",
		"next":          "次へ",
		"save":          "保存",
		"back":          "戻る",
		"signed_out":    "サインアウトしました。",
		"check_signin":  "確認のため、もう一度サインインしてください。パスワードの後に、登録した方法で本人確認をします。",
		"done_check":    "サインアウトして、登録した方法でサインインしてみる",
		"session_ended": "セッションの有効期限が切れました。もう一度サインインしてください。",

		"err_bad_credentials": "サインインできません。IDまたはパスワードが正しくありません。",
		"err_locked":          "失敗が続いたため一時的にサインインできません。しばらくしてから再度お試しいただくか、ヘルプデスクにお問い合わせください。",
		"err_not_allowed":     "このアカウントは多要素認証の対象ではありません。ヘルプデスクにお問い合わせください。",
		"err_unavailable":     "サービスが一時的に利用できません。数分後に再度お試しください。",
		"err_bad_code":        "コードが正しくありません。認証アプリに表示されている現在の6桁のコードを入力してください。",
		"err_app_limit":       "認証アプリは5つまでしか登録できません。新しいアプリを追加するには、先に使わなくなったアプリを削除してください。",
		"err_no_method":       "そのサインイン方法は見つかりません。",
		"err_no_app":          "登録済みの方法（電話など）はこのポータルでの本人確認にはまだ使えません。ヘルプデスクにお問い合わせください。",

		"signin_title":    "サインイン",
		"signin_intro":    "10桁のIDとパスワードでサインインしてください。",
		"signin_id":       "ID（10桁）",
		"signin_password": "パスワード",
		"signin_submit":   "サインイン",

		"code_title":   "本人確認",
		"code_intro":   "登録済みの認証アプリに表示されている6桁のコードを入力してください。",
		"code_label":   "コード（6桁）",
		"code_submit":  "確認",
		"stepup_title": "もう一度本人確認をしてください",
		"stepup_intro": "セキュリティ情報を変更するには、登録済みの認証アプリのコードでもう一度本人確認が必要です（確認後%d分間有効）。パスワードだけを知った第三者が、自分の電話やアプリを登録できないようにするためです。",

		"apply_title":      "多要素認証利用申請",
		"apply_what":       "多要素認証（MFA）は、パスワードに加えて、あなただけが持っているもの（スマートフォンの認証アプリなど）でも本人確認をする仕組みです。パスワードが漏れても、第三者はあなたのアカウントでVPNに接続できなくなります。",
		"apply_how":        "利用を申請すると、次回のサインイン時にサインイン方法（認証アプリ）の登録をお願いします。登録後は、VPNに接続するときにパスワードと認証アプリのコードを入力します。",
		"apply_question":   "多要素認証を利用する",
		"apply_yes":        "はい",
		"apply_no":         "いいえ",
		"apply_applied":    "多要素認証を利用中です。",
		"apply_final":      "多要素認証の利用を終了するにはヘルプデスクへの申請が必要です。このページで「いいえ」を選んでも利用は終了しません。",
		"apply_saved_yes":  "多要素認証の利用を申請しました。",
		"apply_saved_no":   "多要素認証は利用しない設定のままです。",
		"apply_no_ignored": "多要素認証は利用中のままです。利用を終了するにはヘルプデスクにお問い合わせください。",
		"apply_continue":   "サインイン方法の登録へ進む",

		"setup_title": "詳細情報が必要です",
		"setup_intro": "多要素認証の利用が申請されています。アカウントを保護するため、サインイン方法を登録してください。",
		"setup_app":   "既定の方法は認証アプリです。スマートフォンに認証アプリ（Microsoft Authenticator、Google Authenticator など、6桁のコードを表示するアプリならどれでも使えます）を用意してから「次へ」を押してください。",

		"app_title":        "認証アプリの設定",
		"app_step1":        "スマートフォンで認証アプリを開き、アカウントを追加してQRコードを読み取ってください。",
		"app_qr_alt":       "認証アプリに読み取らせるQRコード",
		"app_open_link":    "このスマートフォンで認証アプリを開く",
		"app_link_note":    "このページをスマートフォンで見ている場合は、QRコードの代わりにこのリンクをタップしてください。",
		"app_manual":       "QRコードを読み取れない場合は、アプリでキーを手動で入力してください。",
		"app_other":        "別の認証アプリを使う",
		"app_other_text":   "6桁のコードを30秒ごとに表示する認証アプリ（TOTP）なら、どれでも使えます（Microsoft Authenticator、Google Authenticator、IIJ SmartKey、パスワード管理アプリなど）。お使いのアプリで上のQRコードを読み取るか、下のキーを入力してください。",
		"app_account":      "アカウント名",
		"app_secret":       "秘密鍵",
		"app_step2":        "アプリに表示された6桁のコードを入力してください。コードが正しければ登録されます。",
		"app_name_label":   "このアプリの名前（一覧で区別するため、任意）",
		"app_name_default": "認証アプリ",
		"app_verify":       "確認して登録",
		"app_limit":        "認証アプリは5つまで登録できます。",

		"done_title":    "登録が完了しました",
		"done_text":     "認証アプリを登録しました。次回から、ポータルへのサインインとVPNへの接続で、パスワードの後に認証アプリのコードを入力してください。",
		"done_try":      "VPNに一度接続して、登録した方法でサインインできることを確かめてください。",
		"done_continue": "セキュリティ情報へ",

		"sec_title":        "セキュリティ情報",
		"sec_intro":        "サインインの本人確認に使う方法の一覧です。",
		"sec_default":      "既定のサインイン方法：",
		"sec_default_none": "未設定",
		"sec_change":       "変更",
		"sec_add_app":      "認証アプリを追加",
		"sec_col_kind":     "種類",
		"sec_col_detail":   "詳細",
		"sec_col_added":    "登録日時",
		"sec_delete":       "削除",
		"sec_none":         "サインイン方法が登録されていません。",
		"sec_setup_now":    "サインイン方法を登録する",
		"sec_default_mark": "（既定）",
		"notice_added":     "サインイン方法を追加しました。",
		"notice_deleted":   "サインイン方法を削除しました。",
		"notice_default":   "既定のサインイン方法を変更しました。",

		"kind_totp":            "認証アプリ",
		"kind_push":            "プッシュ通知アプリ",
		"kind_phone":           "電話（SMS・音声）",
		"kind_alternate_phone": "代替の電話（音声）",
		"kind_office_phone":    "会社電話（音声）",
		"ext":                  "内線 %s",

		"default_title": "既定のサインイン方法の変更",
		"default_intro": "サインイン時に最初に使う方法を選んでください。",

		"delete_title":   "サインイン方法の削除",
		"delete_confirm": "次のサインイン方法を削除しますか？",
		"delete_last":    "これは登録されている最後のサインイン方法です。削除すると、次回のサインイン時に新しいサインイン方法の登録が必要になり、登録するまでVPNに接続できません。",
		"delete_submit":  "削除する",

		// Push-capable apps (push.go, push.html, push.js).
		"sec_add_push":            "プッシュ通知アプリを追加",
		"sec_push_test":           "%s にテスト通知を送る",
		"push_title":              "プッシュ通知アプリの追加",
		"push_intro":              "このポータルをスマートフォンにアプリとして追加すると、VPN へのサインイン時に通知が届き、通知をタップして承認できます（VPN クライアントに表示される番号を選びます）。別のアプリをインストールする必要はありません。",
		"push_step_install":       "スマートフォンのブラウザでこのページを開き、ブラウザのメニューから「ホーム画面に追加」（または「アプリをインストール」）を選んでください。",
		"push_ios_note":           "iPhone・iPad では、Safari でホーム画面に追加したアプリから開いたときだけ通知を受け取れます（iOS 16.4 以降）。ホーム画面のアイコンからポータルを開き、もう一度このページに来てください。",
		"push_step_enable":        "このスマートフォンの名前を入力し、「通知を許可して登録」を押してください。通知の許可を求められたら「許可」を選んでください。",
		"push_name_label":         "このスマートフォンの名前（一覧で区別するため、任意）",
		"push_name_default":       "スマートフォン",
		"push_enable":             "通知を許可して登録",
		"push_working":            "登録しています…",
		"push_noscript":           "プッシュ通知の登録には JavaScript が必要です。ブラウザの設定で JavaScript を有効にしてください。",
		"push_unsupported":        "このブラウザはプッシュ通知に対応していません。Android では Chrome などの最新のブラウザを、iPhone では Safari でホーム画面に追加したポータルをお使いください。コードを表示する認証アプリは引き続き使えます。",
		"push_ios":                "iPhone・iPad の Safari では、ホーム画面に追加したポータルからでないと通知を受け取れません。共有ボタン（四角から矢印）→「ホーム画面に追加」を選び、ホーム画面のアイコンから開いてもう一度このページに来てください。",
		"push_denied":             "このサイトからの通知がブロックされています。ブラウザ（iPhone では「設定」→「通知」）でこのポータルの通知を許可してから、ページを再読み込みしてください。",
		"push_dismissed":          "通知が許可されませんでした。登録するには、もう一度ボタンを押して「許可」を選んでください。",
		"push_failed":             "プッシュ通知の登録に失敗しました。通信状態を確認して、もう一度お試しください。",
		"err_push_subscription":   "このブラウザからの登録情報を受け付けられませんでした。ページを再読み込みして、もう一度お試しください。",
		"err_push_duplicate":      "このスマートフォンのこのブラウザは登録済みです。",
		"err_push_service":        "このブラウザのプッシュ通知サービスは、このポータルでは使えません。Chrome、Firefox、Safari（iPhone ではホーム画面に追加したポータル）または Edge をお使いください。",
		"push_test_title":         "テスト通知",
		"push_test_body":          "プッシュ通知は正しく届いています。これはテストで、承認の操作は必要ありません。",
		"notice_push_added":       "プッシュ通知アプリを登録しました。テスト通知を送って、届くことを確かめてください。",
		"notice_push_test_sent":   "テスト通知を送りました。数秒以内にスマートフォンに届きます。",
		"notice_push_test_wait":   "テスト通知は30秒に1回まで送れます。少し待ってからお試しください。",
		"notice_push_test_failed": "テスト通知を送れませんでした。しばらくしてから再度お試しください。",
		"notice_push_test_gone":   "このスマートフォンの登録は無効になっています（通知の許可が取り消されたか、アプリが削除されました）。削除して、もう一度登録してください。",

		"date_format": "2006年1月2日 15:04",
	},
	"en": {
		"app_name":      "MFA enrollment portal",
		"lang_switch":   "日本語",
		"signout":       "Sign out",
		"nav_security":  "Security info",
		"nav_apply":     "Apply for MFA",
		"signed_in_as":  "Signed in as %s",
		"cancel":        "Cancel",
		"next":          "Next",
		"save":          "Save",
		"back":          "Back",
		"signed_out":    "You have signed out.",
		"check_signin":  "To check your new method, sign in again: after your password, confirm with the method you registered.",
		"done_check":    "Sign out and sign in with the new method",
		"session_ended": "Your session has ended. Sign in again.",

		"err_bad_credentials": "Sign-in failed: the ID or password is incorrect.",
		"err_locked":          "Too many failed attempts. Try again later, or contact the help desk.",
		"err_not_allowed":     "Your account is not covered by multi-factor authentication. Contact the help desk.",
		"err_unavailable":     "The service is temporarily unavailable. Try again in a few minutes.",
		"err_bad_code":        "That code is not correct. Enter the current 6-digit code from your authenticator app.",
		"err_app_limit":       "You can register at most 5 authenticator apps. Delete one you no longer use before adding another.",
		"err_no_method":       "That sign-in method was not found.",
		"err_no_app":          "Your registered methods (such as a phone) cannot be used to verify your identity in this portal yet. Contact the help desk.",

		"signin_title":    "Sign in",
		"signin_intro":    "Sign in with your 10-digit ID and password.",
		"signin_id":       "ID (10 digits)",
		"signin_password": "Password",
		"signin_submit":   "Sign in",

		"code_title":   "Verify your identity",
		"code_intro":   "Enter the 6-digit code shown in your registered authenticator app.",
		"code_label":   "Code (6 digits)",
		"code_submit":  "Verify",
		"stepup_title": "Verify your identity again",
		"stepup_intro": "To change your security info, verify again with a code from a registered authenticator app (valid for %d minutes). This keeps someone who only knows your password from adding their own phone or app.",

		"apply_title":      "Apply for multi-factor authentication",
		"apply_what":       "Multi-factor authentication (MFA) checks who you are with something only you have (such as an authenticator app on your phone) in addition to your password. Even if your password leaks, nobody else can connect to the VPN as you.",
		"apply_how":        "Once you apply, the next sign-in asks you to register a sign-in method (an authenticator app). From then on, you enter your password and a code from the app when you connect to the VPN.",
		"apply_question":   "Use multi-factor authentication",
		"apply_yes":        "Yes",
		"apply_no":         "No",
		"apply_applied":    "You are using multi-factor authentication.",
		"apply_final":      "Ending multi-factor authentication needs an application to the help desk. Choosing \"No\" on this page does not end it.",
		"apply_saved_yes":  "You have applied for multi-factor authentication.",
		"apply_saved_no":   "Multi-factor authentication stays off.",
		"apply_no_ignored": "Multi-factor authentication stays on. To end it, contact the help desk.",
		"apply_continue":   "Continue to register a sign-in method",

		"setup_title": "More information required",
		"setup_intro": "You have applied for multi-factor authentication. To keep your account secure, register a sign-in method.",
		"setup_app":   "The default method is an authenticator app. Have an authenticator app ready on your phone (Microsoft Authenticator, Google Authenticator or any app that shows 6-digit codes), then choose Next.",

		"app_title":        "Set up your authenticator app",
		"app_step1":        "Open the authenticator app on your phone, add an account and scan the QR code.",
		"app_qr_alt":       "QR code for your authenticator app",
		"app_open_link":    "Open the authenticator app on this phone",
		"app_link_note":    "If you are viewing this page on your phone, tap this link instead of scanning the QR code.",
		"app_manual":       "Can't scan the QR code? Enter the key in the app by hand.",
		"app_other":        "Use a different authenticator app",
		"app_other_text":   "Any authenticator app that shows a 6-digit code every 30 seconds (TOTP) works: Microsoft Authenticator, Google Authenticator, IIJ SmartKey, a password manager and others. Scan the QR code above with your app, or enter the key below.",
		"app_account":      "Account name",
		"app_secret":       "Secret key",
		"app_step2":        "Enter the 6-digit code the app shows. The app is registered once the code is correct.",
		"app_name_label":   "Name for this app (optional, to tell your apps apart)",
		"app_name_default": "Authenticator app",
		"app_verify":       "Verify and register",
		"app_limit":        "You can register up to 5 authenticator apps.",

		"done_title":    "You're all set",
		"done_text":     "Your authenticator app is registered. From now on, enter a code from the app after your password when you sign in to the portal and when you connect to the VPN.",
		"done_try":      "Connect to the VPN once to check that you can sign in with the method you registered.",
		"done_continue": "Go to security info",

		"sec_title":        "Security info",
		"sec_intro":        "These are the methods you use to verify your identity when you sign in.",
		"sec_default":      "Default sign-in method:",
		"sec_default_none": "not set",
		"sec_change":       "Change",
		"sec_add_app":      "Add authenticator app",
		"sec_col_kind":     "Kind",
		"sec_col_detail":   "Details",
		"sec_col_added":    "Added",
		"sec_delete":       "Delete",
		"sec_none":         "You have no sign-in methods.",
		"sec_setup_now":    "Register a sign-in method",
		"sec_default_mark": "(default)",
		"notice_added":     "The sign-in method was added.",
		"notice_deleted":   "The sign-in method was deleted.",
		"notice_default":   "Your default sign-in method was changed.",

		"kind_totp":            "Authenticator app",
		"kind_push":            "Push app",
		"kind_phone":           "Phone (SMS or call)",
		"kind_alternate_phone": "Alternate phone (call)",
		"kind_office_phone":    "Office phone (call)",
		"ext":                  "ext. %s",

		"default_title": "Change your default sign-in method",
		"default_intro": "Choose the method to use first when you sign in.",

		"delete_title":   "Delete a sign-in method",
		"delete_confirm": "Delete this sign-in method?",
		"delete_last":    "This is your last sign-in method. If you delete it, your next sign-in asks you to register a new one, and you cannot connect to the VPN until you do.",
		"delete_submit":  "Delete",

		// Push-capable apps (push.go, push.html, push.js).
		"sec_add_push":            "Add a push-capable app",
		"sec_push_test":           "Send a test notification to %s",
		"push_title":              "Add a push-capable app",
		"push_intro":              "Install this portal on your phone as an app, and VPN sign-ins send it a notification: tap it to approve (you pick the number your VPN client shows). There is no other app to install.",
		"push_step_install":       "Open this page in your phone's browser and choose “Add to Home Screen” (or “Install app”) from the browser's menu.",
		"push_ios_note":           "On an iPhone or iPad, notifications only reach the portal added to the Home Screen from Safari (iOS 16.4 or later). Open the portal from its Home Screen icon and come back to this page.",
		"push_step_enable":        "Enter a name for this phone and choose “Allow notifications and register”. When asked, allow notifications.",
		"push_name_label":         "Name for this phone (optional, to tell your devices apart)",
		"push_name_default":       "Phone",
		"push_enable":             "Allow notifications and register",
		"push_working":            "Registering…",
		"push_noscript":           "Registering for push notifications needs JavaScript. Turn JavaScript on in your browser's settings.",
		"push_unsupported":        "This browser cannot receive push notifications. On Android use an up-to-date browser such as Chrome; on an iPhone, the portal added to the Home Screen from Safari. Authenticator apps that show codes still work.",
		"push_ios":                "Safari on an iPhone or iPad delivers notifications only to the portal added to the Home Screen. Tap the Share button (the square with an arrow), choose “Add to Home Screen”, then open the portal from its icon and come back to this page.",
		"push_denied":             "Notifications from this site are blocked. Allow them for the portal in your browser (on an iPhone: Settings, Notifications), then reload this page.",
		"push_dismissed":          "Notifications were not allowed. To register, choose the button again and allow them.",
		"push_failed":             "Registering for push notifications failed. Check your connection and try again.",
		"err_push_subscription":   "The registration from this browser could not be accepted. Reload the page and try again.",
		"err_push_duplicate":      "This browser on this phone is already registered.",
		"err_push_service":        "This browser's push service cannot be used with this portal. Use Chrome, Firefox, Safari (on an iPhone, the portal added to the Home Screen) or Edge.",
		"push_test_title":         "Test notification",
		"push_test_body":          "Push notifications reach this phone. This is only a test: there is nothing to approve.",
		"notice_push_added":       "Your push-capable app is registered. Send a test notification to check that it arrives.",
		"notice_push_test_sent":   "A test notification was sent. It should arrive on your phone within seconds.",
		"notice_push_test_wait":   "You can send one test notification every 30 seconds. Wait a little and try again.",
		"notice_push_test_failed": "The test notification could not be sent. Try again later.",
		"notice_push_test_gone":   "This phone's registration no longer works (notifications were turned off or the app was removed). Delete it and register again.",

		"date_format": "2 Jan 2006 15:04",
	},
}

// text returns the string of key in lang (the default language when lang
// has none), formatted with args when given.
func text(lang, key string, args ...any) string {
	s, ok := texts[lang][key]
	if !ok {
		s, ok = texts[languages[0]][key]
	}
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

func formatDate(lang string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(text(lang, "date_format"))
}

func kindName(lang string, k store.MethodKind) string { return text(lang, "kind_"+string(k)) }
