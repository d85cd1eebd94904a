package portal

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"kakunin/challenge"
	"kakunin/store"
)

// maxApps is how many authenticator apps a user may register.
const maxApps = 5

// visit is what a handler knows of the request's user.
type visit struct {
	sess    *store.Session // nil before sign-in
	lang    string
	user    store.User     // ID set once signed in
	methods []store.Method // sign-in methods: the email is not one
	email   *store.Method  // the notification email, nil for none
}

// page is what every template gets.
type page struct {
	Lang     string
	Self     string // this page's URL, for the language switch
	SignedIn bool
	Session  bool // signed in, or half-way (password checked)
	UserID   string
	Title    string // text key
	Error    string // text key
	Notice   string // text key
	D        any    // the page's own data
}

func (p page) T(key string, args ...any) string { return text(p.Lang, key, args...) }
func (p page) Date(t time.Time) string          { return formatDate(p.Lang, t) }
func (p page) Kind(k store.MethodKind) string   { return kindName(p.Lang, k) }

// Other is the language the switch offers.
func (p page) Other() string {
	if p.Lang == "en" {
		return "ja"
	}
	return "en"
}

// notices are the flash messages a redirect may name in ?notice=.
var notices = map[string]string{
	"added": "notice_added", "deleted": "notice_deleted", "default": "notice_default",
	"signed_out": "signed_out", "session_ended": "session_ended", "applied": "apply_saved_yes",
	"app_limit": "err_app_limit", "check_signin": "check_signin",
	// Push-capable apps (push.go).
	"push_added": "notice_push_added", "push_test_sent": "notice_push_test_sent",
	"push_test_wait": "notice_push_test_wait", "push_test_failed": "notice_push_test_failed",
	"push_test_gone": "notice_push_test_gone",
}

func (s *Server) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.with(anyone, s.home))
	mux.HandleFunc("GET /lang", s.with(anyone, s.showLang))
	mux.HandleFunc("POST /lang", s.with(anyone, s.setLang))
	mux.HandleFunc("GET /signin", s.with(anyone, s.signinPage))
	mux.HandleFunc("POST /signin", s.with(anyone, s.signin))
	mux.HandleFunc("GET /signin/code", s.with(passwordOnly, s.codePage))
	mux.HandleFunc("POST /signin/code", s.with(passwordOnly, s.code))
	mux.HandleFunc("POST /signout", s.with(anyone, s.signout))
	mux.HandleFunc("GET /stepup", s.with(signedIn, s.stepupPage))
	mux.HandleFunc("POST /stepup", s.with(signedIn, s.stepup))
	mux.HandleFunc("GET /apply", s.with(signedIn, s.applyPage))
	mux.HandleFunc("POST /apply", s.with(signedIn, s.apply))
	mux.HandleFunc("GET /setup", s.with(signedIn, s.setupPage))
	mux.HandleFunc("GET /setup/app", s.with(signedIn, s.appPage))
	mux.HandleFunc("POST /setup/app", s.with(signedIn, s.addApp))
	mux.HandleFunc("GET /setup/done", s.with(signedIn, s.donePage))
	mux.HandleFunc("GET /security", s.with(signedIn, s.securityPage))
	mux.HandleFunc("GET /security/default", s.with(signedIn, s.defaultPage))
	mux.HandleFunc("POST /security/default", s.with(signedIn, s.setDefault))
	mux.HandleFunc("GET /security/delete", s.with(signedIn, s.deletePage))
	mux.HandleFunc("POST /security/delete", s.with(signedIn, s.deleteMethod))
	s.pushRoutes(mux)
	s.phoneRoutes(mux)
	s.emailRoutes(mux)
}

// Who may see a page.
type access int

const (
	anyone       access = iota
	passwordOnly        // the password is checked; the second factor is due
	signedIn            // fully signed in
)

// with loads the session, the user and their methods, and enforces who may
// see the page.
func (s *Server) with(need access, h func(http.ResponseWriter, *http.Request, *visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v := &visit{lang: s.requestLang(r)}
		sess, err := s.loadSession(ctx, r)
		if err != nil {
			s.fail(w, r, v, "load session", err)
			return
		}
		if sess != nil {
			v.sess = sess
			if supported(sess.Lang) {
				v.lang = sess.Lang
			}
			if err := s.loadUser(ctx, v); err != nil {
				s.fail(w, r, v, "load user", err)
				return
			}
		}
		switch need {
		case passwordOnly:
			if v.sess == nil {
				redirect(w, r, "/signin?notice=session_ended")
				return
			}
			if !s.needsCode(v) {
				redirect(w, r, "/")
				return
			}
		case signedIn:
			if v.sess == nil {
				redirect(w, r, "/signin?notice=session_ended")
				return
			}
			if s.needsCode(v) {
				redirect(w, r, "/signin/code")
				return
			}
		}
		h(w, r, v)
	}
}

func (s *Server) loadUser(ctx context.Context, v *visit) error {
	u, err := s.st.GetUser(ctx, v.sess.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		u = store.User{ID: v.sess.UserID}
	case err != nil:
		return err
	}
	v.user = u
	ms, err := s.st.Methods(ctx, u.ID)
	if err != nil {
		return err
	}
	// The email never signs in: it is kept apart, so that every check
	// of "has methods" (a code due, first-method setup, the last
	// method) is about sign-in methods.
	for i := range ms {
		if ms[i].Kind == store.KindEmail {
			v.email = &ms[i]
			continue
		}
		v.methods = append(v.methods, ms[i])
	}
	return nil
}

// needsCode: a user with methods has not yet given a code in this session.
func (s *Server) needsCode(v *visit) bool {
	return len(v.methods) > 0 && v.sess.Verified.IsZero()
}

// stepUpDue: a change needs a code verified within step_up (a user
// without methods has nothing to protect yet and no code to give).
func (s *Server) stepUpDue(v *visit) bool {
	return len(v.methods) > 0 && s.now().Sub(v.sess.Verified) >= s.cfg.StepUp
}

// stepUp sends the user to verify again, then back to back (a GET page).
func (s *Server) stepUp(w http.ResponseWriter, r *http.Request, back string) {
	redirect(w, r, "/stepup?next="+url.QueryEscape(back))
}

func (s *Server) requestLang(r *http.Request) string {
	if c, err := r.Cookie(s.langCookie()); err == nil && supported(c.Value) {
		return c.Value
	}
	return languages[0]
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, v *visit, status int, name string, p page) {
	p.Lang = v.lang
	p.Self = r.URL.RequestURI()
	if r.Method != http.MethodGet {
		p.Self = r.URL.Path
	}
	p.Session = v.sess != nil
	if v.sess != nil && !s.needsCode(v) {
		p.SignedIn, p.UserID = true, v.user.ID
	}
	if p.Notice == "" {
		p.Notice = notices[r.URL.Query().Get("notice")]
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		http.Error(w, text(v.lang, "err_unavailable"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail logs the cause and tells the user only that the service is
// unavailable.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *visit, what string, err error) {
	s.log.Error("portal: "+what, "path", r.URL.Path, "err", err)
	s.render(w, r, v, http.StatusServiceUnavailable, "error", page{Title: "app_name", Error: "err_unavailable"})
}

func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// localPath accepts only a path on this site as a place to return to, and
// answers "/" for anything else. Browsers strip TAB, CR and LF from a URL
// and read a backslash as a slash, so "/\t/evil", "/\\evil" and "///evil"
// all lead off-site: the target must be printable ASCII without a
// backslash (the portal's own links are escaped, so they always are), parse
// as a URL with no scheme, host or user, and have a path, raw and decoded,
// that starts with exactly one slash.
func localPath(p string) string {
	const home = "/"
	if p == "" || len(p) > 2048 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return home
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return home
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return home
	}
	// The decoded path too: "/%2F/evil" and "/%5Cevil" are harmless as
	// they stand, but a proxy or a later decode must not make them a host.
	for _, r := range u.Path {
		if r < ' ' || r == 0x7f || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return home
		}
	}
	return p
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, v *visit) {
	switch {
	case v.sess == nil:
		redirect(w, r, "/signin")
	case s.needsCode(v):
		redirect(w, r, "/signin/code")
	case len(v.methods) > 0:
		redirect(w, r, "/security")
	case v.user.MFAApplied:
		redirect(w, r, "/setup")
	default:
		redirect(w, r, "/apply")
	}
}

// showLang (GET /lang, a link anyone can send) changes only what this
// browser's pages are shown in: the cookie and the session's display
// language. What calls and notifications speak is stored only by the
// form (POST /lang), which cross-origin protection guards.
func (s *Server) showLang(w http.ResponseWriter, r *http.Request, v *visit) {
	s.displayLang(w, r, v, r.URL.Query().Get("to"))
	redirect(w, r, localPath(r.URL.Query().Get("next")))
}

// setLang (POST /lang, the language switch) also makes a signed-in
// user's choice what calls and push notifications speak.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request, v *visit) {
	lang := s.displayLang(w, r, v, r.PostFormValue("to"))
	if v.user.ID != "" && v.user.Language != lang {
		if err := s.admin.SetLanguage(r.Context(), v.user.ID, lang, "portal"); err != nil {
			s.log.Warn("portal: save the user's language", "err", err)
		}
	}
	redirect(w, r, localPath(r.PostFormValue("next")))
}

// displayLang sets the language of this browser's pages and returns it.
func (s *Server) displayLang(w http.ResponseWriter, r *http.Request, v *visit, lang string) string {
	if !supported(lang) {
		lang = languages[0]
	}
	s.setCookie(w, s.langCookie(), lang, 365*24*3600)
	if v.sess != nil && v.sess.Lang != lang {
		v.sess.Lang = lang
		if err := s.st.UpdateSession(r.Context(), *v.sess); err != nil {
			s.log.Warn("portal: save language", "err", err)
		}
	}
	return lang
}

// Sign-in: the ID and password, then a code once the user has a method.

type signinData struct{ ID string }

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.render(w, r, v, http.StatusOK, "signin", page{Title: "signin_title", D: signinData{}})
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	id, password := strings.TrimSpace(r.PostFormValue("id")), r.PostFormValue("password")
	_, err := s.eng.CheckPassword(ctx, id, password)
	if err != nil {
		key, outcome := "err_unavailable", "unavailable"
		switch {
		case errors.Is(err, challenge.ErrBadCredentials):
			key, outcome = "err_bad_credentials", "bad_credentials"
		case errors.Is(err, challenge.ErrLocked):
			key, outcome = "err_locked", "locked"
		case errors.Is(err, challenge.ErrNotAllowed):
			key, outcome = "err_not_allowed", "not_allowed"
		default:
			s.log.Error("portal: sign-in", "err", err)
		}
		s.m.signins.WithLabelValues(outcome).Inc()
		s.render(w, r, v, http.StatusOK, "signin", page{Title: "signin_title", Error: key, D: signinData{ID: id}})
		return
	}
	s.m.signins.WithLabelValues("password_ok").Inc()
	if _, err := s.startSession(ctx, w, v.sess, id, v.lang, time.Time{}); err != nil {
		s.fail(w, r, v, "start session", err)
		return
	}
	redirect(w, r, "/")
}

type codeData struct {
	Action, Next string
	StepUp       bool
	Minutes      int
	NoApp        bool          // the user has methods, but none the portal can check
	Phones       []phoneOption // codes by SMS and calls the user may choose instead
}

// Only authenticator apps' codes can be checked here so far; a user with
// only phones (enrolled by the help desk) is told so rather than let in on
// the password alone.
func hasApp(ms []store.Method) bool {
	return slices.ContainsFunc(ms, func(m store.Method) bool { return m.Kind == store.KindTOTP })
}

func (s *Server) codePage(w http.ResponseWriter, r *http.Request, v *visit) {
	p := page{Title: "code_title", D: codeData{Action: "/signin/code", NoApp: !hasApp(v.methods), Phones: s.phoneOptions(v)}}
	if !hasApp(v.methods) && len(s.phoneOptions(v)) == 0 {
		p.Error = "err_no_app"
	}
	s.render(w, r, v, http.StatusOK, "code", p)
}

func (s *Server) code(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	if !hasApp(v.methods) {
		s.codePage(w, r, v)
		return
	}
	if key := s.verify(ctx, v, r.PostFormValue("code")); key != "" {
		s.render(w, r, v, http.StatusOK, "code", page{Title: "code_title", Error: key, D: codeData{Action: "/signin/code", Phones: s.phoneOptions(v)}})
		return
	}
	// Fully signed in now: a new token for the new privilege.
	if _, err := s.startSession(ctx, w, v.sess, v.user.ID, v.lang, s.now()); err != nil {
		s.fail(w, r, v, "start session", err)
		return
	}
	redirect(w, r, "/")
}

// verify checks a code from one of the user's apps; it returns the error's
// text key, or "" when the code is right.
func (s *Server) verify(ctx context.Context, v *visit, code string) string {
	ok, err := s.eng.VerifyCode(ctx, v.user.ID, code)
	switch {
	case errors.Is(err, challenge.ErrLocked):
		s.m.signins.WithLabelValues("locked").Inc()
		return "err_locked"
	case err != nil:
		s.log.Error("portal: verify code", "user", v.user.ID, "err", err)
		s.m.signins.WithLabelValues("unavailable").Inc()
		return "err_unavailable"
	case !ok:
		s.m.signins.WithLabelValues("bad_code").Inc()
		return "err_bad_code"
	}
	s.m.signins.WithLabelValues("code_ok").Inc()
	return ""
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request, v *visit) {
	if err := s.endSession(r.Context(), w, v.sess); err != nil {
		s.log.Warn("portal: sign out", "err", err)
	}
	if r.PostFormValue("check") != "" {
		// The guide's last step: sign in once with the new method.
		redirect(w, r, "/signin?notice=check_signin")
		return
	}
	redirect(w, r, "/signin?notice=signed_out")
}

func (s *Server) stepupData(next string) codeData {
	return codeData{Action: "/stepup", Next: localPath(next), StepUp: true, Minutes: int(s.cfg.StepUp / time.Minute)}
}

func (s *Server) stepupPage(w http.ResponseWriter, r *http.Request, v *visit) {
	d := s.stepupData(r.URL.Query().Get("next"))
	d.NoApp, d.Phones = !hasApp(v.methods), s.phoneOptions(v)
	s.render(w, r, v, http.StatusOK, "code", page{Title: "stepup_title", D: d})
}

func (s *Server) stepup(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	next := localPath(r.PostFormValue("next"))
	if key := s.verify(ctx, v, r.PostFormValue("code")); key != "" {
		d := s.stepupData(next)
		d.NoApp, d.Phones = !hasApp(v.methods), s.phoneOptions(v)
		s.render(w, r, v, http.StatusOK, "code", page{Title: "stepup_title", Error: key, D: d})
		return
	}
	v.sess.Verified = s.now()
	if err := s.st.UpdateSession(ctx, *v.sess); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	redirect(w, r, next)
}

// Apply for MFA.

type applyData struct {
	Applied, NoIgnored bool
	HasMethods         bool
}

func (s *Server) applyPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.render(w, r, v, http.StatusOK, "apply", page{Title: "apply_title",
		D: applyData{Applied: v.user.MFAApplied, HasMethods: len(v.methods) > 0}})
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	d := applyData{Applied: v.user.MFAApplied, HasMethods: len(v.methods) > 0}
	yes := r.PostFormValue("use") == "yes"
	switch {
	case yes && !v.user.MFAApplied:
		now := s.now()
		u := v.user
		u.MFAApplied, u.UpdatedAt = true, now
		if u.CreatedAt.IsZero() {
			u.CreatedAt = now
		}
		if err := s.st.PutUser(ctx, u); err != nil {
			s.fail(w, r, v, "apply for MFA", err)
			return
		}
		if err := s.st.Audit(ctx, store.Event{At: now, UserID: u.ID, Actor: "portal", Action: "mfa_applied"}); err != nil {
			s.log.Error("portal: audit", "err", err)
		}
		s.m.changes.WithLabelValues("mfa_applied").Inc()
		s.log.Info("MFA applied for in the portal", "user", u.ID)
		redirect(w, r, "/apply?notice=applied")
		return
	case yes:
		redirect(w, r, "/apply")
		return
	case v.user.MFAApplied:
		// The user cannot switch MFA off; say so and change nothing.
		d.NoIgnored = true
		s.render(w, r, v, http.StatusOK, "apply", page{Title: "apply_title", Notice: "apply_no_ignored", D: d})
		return
	}
	s.render(w, r, v, http.StatusOK, "apply", page{Title: "apply_title", Notice: "apply_saved_no", D: d})
}

// First-method setup and adding an authenticator app.

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request, v *visit) {
	if len(v.methods) > 0 {
		redirect(w, r, "/security")
		return
	}
	if !v.user.MFAApplied {
		redirect(w, r, "/apply")
		return
	}
	s.render(w, r, v, http.StatusOK, "setup", page{Title: "setup_title", D: s.eng.CanSMS() || s.eng.CanCall()})
}

type appData struct {
	QR      template.URL // data: URI of the PNG
	Link    template.URL // otpauth://
	Secret  string       // base32, in groups of four
	Account string
	Label   string
}

func apps(ms []store.Method) int {
	n := 0
	for _, m := range ms {
		if m.Kind == store.KindTOTP || m.Kind == store.KindPush {
			n++
		}
	}
	return n
}

// appAllowed checks what adding an app needs; it has answered the request
// when it returns false.
func (s *Server) appAllowed(w http.ResponseWriter, r *http.Request, v *visit) bool {
	switch {
	case len(v.methods) == 0 && !v.user.MFAApplied:
		redirect(w, r, "/apply")
	case apps(v.methods) >= maxApps:
		redirect(w, r, "/security?notice=app_limit")
	case s.stepUpDue(v):
		s.stepUp(w, r, "/setup/app")
	default:
		return true
	}
	return false
}

func (s *Server) appPage(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.appAllowed(w, r, v) {
		return
	}
	if !isSeed(v.sess.Pending) {
		seed, _, err := challenge.NewTOTPKey(s.issuer, v.user.ID)
		if err != nil {
			s.fail(w, r, v, "new TOTP key", err)
			return
		}
		v.sess.Pending = seed
		if err := s.st.UpdateSession(r.Context(), *v.sess); err != nil {
			s.fail(w, r, v, "save session", err)
			return
		}
	}
	s.renderApp(w, r, v, "", "")
}

func (s *Server) renderApp(w http.ResponseWriter, r *http.Request, v *visit, errKey, label string) {
	uri, err := challenge.TOTPURI(s.issuer, v.user.ID, v.sess.Pending)
	if err != nil {
		s.fail(w, r, v, "TOTP URI", err)
		return
	}
	img, err := qrDataURI(uri)
	if err != nil {
		s.fail(w, r, v, "QR code", err)
		return
	}
	s.render(w, r, v, http.StatusOK, "app", page{Title: "app_title", Error: errKey, D: appData{
		QR: img, Link: template.URL(uri), Secret: groups(challenge.EncodeTOTPSecret(v.sess.Pending)),
		Account: s.issuer + " (" + v.user.ID + ")", Label: label,
	}})
}

func (s *Server) addApp(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	if !s.appAllowed(w, r, v) {
		return
	}
	if !isSeed(v.sess.Pending) {
		redirect(w, r, "/setup/app")
		return
	}
	label := strings.TrimSpace(r.PostFormValue("label"))
	if len([]rune(label)) > 64 {
		label = string([]rune(label)[:64])
	}
	step, ok := s.eng.MatchNewTOTP(v.sess.Pending, r.PostFormValue("code"))
	if !ok {
		s.renderApp(w, r, v, "err_bad_code", label)
		return
	}
	if label == "" {
		label = text(v.lang, "app_name_default")
	}
	// The seed leaves the session before it becomes a method, so a second
	// submit of the same form cannot add it twice.
	seed, first := v.sess.Pending, len(v.methods) == 0
	now := s.now()
	v.sess.Pending, v.sess.Verified = nil, now
	if err := s.st.UpdateSession(ctx, *v.sess); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	m, _, err := s.admin.AddTOTP(ctx, v.user.ID, label, seed, "portal")
	if err != nil {
		s.fail(w, r, v, "add authenticator app", err)
		return
	}
	// The code just typed is spent: it cannot also sign in to the VPN.
	if _, err := s.st.UseTOTPStep(ctx, m.ID, step, now); err != nil {
		s.log.Warn("portal: mark enrollment code used", "err", err)
	}
	s.m.changes.WithLabelValues("method_added").Inc()
	s.log.Info("method added in the portal", "user", v.user.ID, "kind", "totp", "method", m.ID)
	s.notify(v, "mail_method_added", describe(v.user.Language, m))
	if first {
		redirect(w, r, s.afterFirstMethod("app"))
		return
	}
	redirect(w, r, "/security?notice=added")
}

func (s *Server) donePage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.render(w, r, v, http.StatusOK, "done", page{Title: "done_title", D: r.URL.Query().Get("method") == "phone"})
}

// groups writes a base32 secret in groups of four, as apps show it.
func groups(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// qrDataURI renders uri as a QR code PNG in a data: URI (the CSP allows
// data: images, so no second request has to find the pending seed).
func qrDataURI(uri string) (template.URL, error) {
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return "", err
	}
	if code, err = barcode.Scale(code, 240, 240); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, code); err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// Security info.

type methodView struct {
	ID, Detail string
	Kind       store.MethodKind
	Added      time.Time
	Default    bool
	PushTest   bool // a Web Push app the page can send a test notification to
	Phone      bool // a phone: its number can be edited
}

type securityData struct {
	Methods  []methodView
	Default  *methodView
	CanAdd   bool
	Selected string // delete: the method; default: the current one
	Last     bool   // delete: the user's last method
	CanPush  bool   // a push-capable app may be added (push.webpush configured)
	// AddPhones are the phone kinds the user may still add.
	AddPhones []store.MethodKind
	// Email is the notification email (nil for none); CanEmail: one can
	// be registered (portal.smtp configured).
	Email    *emailView
	CanEmail bool
}

func (s *Server) views(v *visit) []methodView {
	out := make([]methodView, 0, len(v.methods))
	for _, m := range v.methods {
		mv := methodView{ID: m.ID, Kind: m.Kind, Added: m.CreatedAt, Default: m.ID == v.user.DefaultMethod, Detail: m.Label}
		if m.Phone != "" {
			mv.Detail = challenge.MaskPhone(m.Phone)
			if m.Extension != "" {
				mv.Detail += " " + text(v.lang, "ext", m.Extension)
			}
			mv.Phone = isPhoneKind(m.Kind)
		}
		_, mv.PushTest = pushRegistration(m)
		mv.PushTest = mv.PushTest && s.pushSender != nil
		out = append(out, mv)
	}
	return out
}

func (s *Server) security(v *visit) securityData {
	d := securityData{Methods: s.views(v), CanAdd: apps(v.methods) < maxApps, Email: s.emailView(v), CanEmail: s.mailer != nil}
	d.CanPush = d.CanAdd && s.vapid != nil
	for _, k := range []store.MethodKind{store.KindPhone, store.KindAlternatePhone, store.KindOfficePhone} {
		if s.canVerifyPhone(k) && !slices.ContainsFunc(v.methods, func(m store.Method) bool { return m.Kind == k }) {
			d.AddPhones = append(d.AddPhones, k)
		}
	}
	for i := range d.Methods {
		if d.Methods[i].Default {
			d.Default = &d.Methods[i]
		}
	}
	return d
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.render(w, r, v, http.StatusOK, "security", page{Title: "sec_title", D: s.security(v)})
}

func (s *Server) find(v *visit, id string) (methodView, bool) {
	for _, m := range s.views(v) {
		if m.ID == id {
			return m, true
		}
	}
	return methodView{}, false
}

func (s *Server) defaultPage(w http.ResponseWriter, r *http.Request, v *visit) {
	if len(v.methods) == 0 {
		redirect(w, r, "/")
		return
	}
	if s.stepUpDue(v) {
		s.stepUp(w, r, "/security/default")
		return
	}
	d := s.security(v)
	d.Selected = v.user.DefaultMethod
	s.render(w, r, v, http.StatusOK, "default", page{Title: "default_title", D: d})
}

func (s *Server) setDefault(w http.ResponseWriter, r *http.Request, v *visit) {
	if s.stepUpDue(v) {
		s.stepUp(w, r, "/security/default")
		return
	}
	id := r.PostFormValue("method")
	if _, ok := s.find(v, id); !ok {
		redirect(w, r, "/security")
		return
	}
	if id != v.user.DefaultMethod {
		if err := s.admin.SetDefault(r.Context(), v.user.ID, id, "portal"); err != nil {
			s.fail(w, r, v, "set default method", err)
			return
		}
		s.m.changes.WithLabelValues("default_changed").Inc()
		s.log.Info("default method changed in the portal", "user", v.user.ID, "method", id)
		s.notify(v, "mail_default_changed", s.describeID(v, id))
	}
	redirect(w, r, "/security?notice=default")
}

func (s *Server) deletePage(w http.ResponseWriter, r *http.Request, v *visit) {
	id := r.URL.Query().Get("id")
	m, ok := s.find(v, id)
	if !ok {
		redirect(w, r, "/security")
		return
	}
	if s.stepUpDue(v) {
		s.stepUp(w, r, "/security/delete?id="+url.QueryEscape(id))
		return
	}
	s.render(w, r, v, http.StatusOK, "delete", page{Title: "delete_title",
		D: securityData{Methods: []methodView{m}, Selected: id, Last: len(v.methods) == 1}})
}

func (s *Server) deleteMethod(w http.ResponseWriter, r *http.Request, v *visit) {
	id := r.PostFormValue("method")
	if _, ok := s.find(v, id); !ok {
		redirect(w, r, "/security")
		return
	}
	if s.stepUpDue(v) {
		s.stepUp(w, r, "/security/delete?id="+url.QueryEscape(id))
		return
	}
	if err := s.admin.DeleteMethod(r.Context(), v.user.ID, id, "portal"); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, v, "delete method", err)
		return
	}
	s.m.changes.WithLabelValues("method_deleted").Inc()
	s.log.Info("method deleted in the portal", "user", v.user.ID, "method", id)
	s.notify(v, "mail_method_deleted", s.describeID(v, id))
	if len(v.methods) == 1 {
		redirect(w, r, "/") // nothing left: first-method setup again
		return
	}
	if id == v.user.DefaultMethod {
		// The store cleared the default; the oldest remaining method
		// takes its place, as the first one enrolled did.
		next := v.methods[0].ID
		if next == id {
			next = v.methods[1].ID
		}
		if err := s.admin.SetDefault(r.Context(), v.user.ID, next, "portal"); err != nil {
			s.log.Warn("portal: new default after deleting the default", "user", v.user.ID, "err", err)
		}
	}
	redirect(w, r, "/security?notice=deleted")
}
