package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"kakunin/challenge"
	"kakunin/store"
)

// Phones: a phone (SMS or call), an alternate phone and an office phone
// (calls only, with an extension), each saved only once the number is
// verified: a code sent by SMS and typed back, or a call answered with
// '#'. Editing a number verifies the new one, then replaces the old.

// maxPhoneTries is how many tries one SMS code to a new number gets
// (counted in the store: codetries.go).
const maxPhoneTries = 5

func (s *Server) phoneRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /setup/phone", s.with(signedIn, s.phonePage))
	mux.HandleFunc("POST /setup/phone", s.with(signedIn, s.phoneSend))
	mux.HandleFunc("GET /setup/phone/verify", s.with(signedIn, s.phoneVerifyPage))
	mux.HandleFunc("POST /setup/phone/verify", s.with(signedIn, s.phoneVerify))
	s.phoneSignInRoutes(mux)
}

// country is one choice of the country selector.
type country struct {
	Code, Dial string
	Min, Max   int // digits of the national number, without the trunk 0
}

// countries are the common ones; the first is the default. Anyone else
// types the number with its + and country code.
var countries = []country{
	{"JP", "81", 9, 10}, {"US", "1", 10, 10}, {"GB", "44", 9, 10}, {"CN", "86", 9, 11},
	{"KR", "82", 8, 10}, {"TW", "886", 8, 9}, {"DE", "49", 6, 13}, {"FR", "33", 9, 9},
	{"AU", "61", 9, 9}, {"IN", "91", 10, 10}, {"CA", "1", 10, 10}, {"SG", "65", 8, 8},
}

func findCountry(code string) (country, bool) {
	i := slices.IndexFunc(countries, func(c country) bool { return c.Code == code })
	if i < 0 {
		return country{}, false
	}
	return countries[i], true
}

// phoneNumber turns a country and a national number as people type it
// ("090-1234-5678") into E.164 ("+819012345678"): the trunk prefix 0 is
// dropped. A number typed with + and a country code is taken as it is.
func phoneNumber(countryCode, national string) (string, bool) {
	national = strings.TrimSpace(national)
	if strings.HasPrefix(national, "+") {
		p, err := challenge.NormalizePhone(national)
		return p, err == nil
	}
	c, ok := findCountry(countryCode)
	if !ok {
		return "", false
	}
	var digits strings.Builder
	for _, r := range national {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '\u3000' || r == 'ー' || r == '－':
		default:
			return "", false
		}
	}
	d := strings.TrimPrefix(digits.String(), "0")
	if c.Dial == "1" && len(d) == 11 && d[0] == '1' {
		d = d[1:] // North America's trunk 1
	}
	if len(d) < c.Min || len(d) > c.Max || strings.HasPrefix(d, "0") {
		return "", false
	}
	p, err := challenge.NormalizePhone("+" + c.Dial + d)
	return p, err == nil
}

func digitsOnly(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isPhoneKind(k store.MethodKind) bool {
	return k == store.KindPhone || k == store.KindAlternatePhone || k == store.KindOfficePhone
}

// pendingPhone is a number being verified; it waits in the session's
// sealed Pending field (where an app's seed waits while it is set up),
// marked by a prefix (a random 20-byte seed starts with these 16 bytes
// with odds of 2^-128): a seed found there instead is replaced, and this
// is replaced by a seed when the user turns to setting up an app.
type pendingPhone struct {
	Kind      store.MethodKind    `json:"kind"`
	Phone     string              `json:"phone"` // E.164
	Extension string              `json:"ext,omitempty"`
	Replace   string              `json:"replace,omitempty"` // the method a new number replaces
	Via       string              `json:"via"`               // "sms", "call" or "push" (sign-in only)
	Code      challenge.PhoneCode `json:"code"`              // sms: what was sent, and until when
	TryKey    string              `json:"try,omitempty"`     // sms: names the code's tries in the store (codetries.go)
	Approval  string              `json:"approval,omitempty"`
	// Number (push) is the number to choose on the phone; Label is the
	// push app's name.
	Number int    `json:"number,omitempty"`
	Label  string `json:"label,omitempty"`
	// SignIn is the enrolled phone a sign-in (or step-up) goes through;
	// Next is where a step-up returns.
	SignIn string `json:"signin,omitempty"`
	Next   string `json:"next,omitempty"`
}

var phonePrefix = []byte("kakunin-phone/1:")

func isPendingPhone(b []byte) bool { return bytes.HasPrefix(b, phonePrefix) }

func pendingOf(sess *store.Session) (pendingPhone, bool) {
	var p pendingPhone
	if sess == nil || !isPendingPhone(sess.Pending) {
		return p, false
	}
	if json.Unmarshal(sess.Pending[len(phonePrefix):], &p) != nil {
		return p, false
	}
	// A push app waits here only for a sign-in through it (never to be
	// saved as a new number).
	if !isPhoneKind(p.Kind) && !(p.Kind == store.KindPush && p.Via == "push" && p.SignIn != "") {
		return p, false
	}
	return p, true
}

func (s *Server) savePending(ctx context.Context, sess *store.Session, p *pendingPhone) error {
	if p == nil {
		sess.Pending = nil
	} else {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		sess.Pending = append(append([]byte(nil), phonePrefix...), b...)
	}
	return s.st.UpdateSession(ctx, *sess)
}

// phoneData is the phone form and the verification page.
type phoneData struct {
	Kind                  store.MethodKind
	Edit                  string // the method being replaced
	Current               string // its masked number
	Countries             []country
	Country, Number       string
	Extension, Via        string
	SMS, Call             bool   // what can verify this kind here
	Unavailable           bool   // neither: the page says so
	Exists                bool   // the user has this kind already
	Masked                string // verify: where the code went or the call goes
	First                 bool   // first-method setup
	ViaSMS, ViaCall       bool   // verify: how
	ViaPush               bool   // sign-in: a notification to a push app
	PushNumber            int    // push: the number to choose on the phone
	Action, Again, Cancel string // verify: where the form posts; where to start again; where to give up
	SignIn                bool   // verify: a sign-in, not a new number
}

// phoneTarget reads which phone the request is about: a kind to add, or
// (edit=ID) one of the user's phones to replace.
func (s *Server) phoneTarget(v *visit, kind, edit string) (phoneData, bool) {
	d := phoneData{Kind: store.MethodKind(kind), Countries: countries, Country: countries[0].Code, First: len(v.methods) == 0}
	if edit != "" {
		i := slices.IndexFunc(v.methods, func(m store.Method) bool { return m.ID == edit && isPhoneKind(m.Kind) })
		if i < 0 {
			return d, false
		}
		d.Kind, d.Edit, d.Current = v.methods[i].Kind, edit, challenge.MaskPhone(v.methods[i].Phone)
	}
	if d.Kind == "" {
		d.Kind = store.KindPhone
	}
	if !isPhoneKind(d.Kind) {
		return d, false
	}
	d.Call = s.eng.CanCall()
	d.SMS = d.Kind == store.KindPhone && s.eng.CanSMS()
	d.Unavailable = !d.SMS && !d.Call
	d.Exists = d.Edit == "" && slices.ContainsFunc(v.methods, func(m store.Method) bool { return m.Kind == d.Kind })
	d.Via = "call"
	if d.SMS {
		d.Via = "sms"
	}
	return d, true
}

// canVerifyPhone: a phone of kind k can be verified here (SMS for phones,
// calls for every kind).
func (s *Server) canVerifyPhone(k store.MethodKind) bool {
	return s.eng.CanCall() || (k == store.KindPhone && s.eng.CanSMS())
}

// phoneAllowed checks what adding or changing a phone needs; it has
// answered the request when it returns false.
func (s *Server) phoneAllowed(w http.ResponseWriter, r *http.Request, v *visit, back string) bool {
	switch {
	case len(v.methods) == 0 && !v.user.MFAApplied:
		redirect(w, r, "/apply")
	case s.stepUpDue(v):
		s.stepUp(w, r, back)
	default:
		return true
	}
	return false
}

func phoneFormURL(kind store.MethodKind, edit string) string {
	if edit != "" {
		return "/setup/phone?edit=" + url.QueryEscape(edit)
	}
	return "/setup/phone?kind=" + url.QueryEscape(string(kind))
}

func (s *Server) renderPhone(w http.ResponseWriter, r *http.Request, v *visit, errKey string, d phoneData) {
	p := page{Title: "phone_title_" + string(d.Kind), Error: errKey, D: d}
	if d.Edit != "" {
		p.Title = "phone_title_edit"
	}
	switch {
	case errKey != "":
	case d.Unavailable:
		p.Error = "err_phone_unavailable"
	case d.Exists:
		p.Error = "err_phone_exists"
	}
	s.render(w, r, v, http.StatusOK, "phone", p)
}

func (s *Server) phonePage(w http.ResponseWriter, r *http.Request, v *visit) {
	q := r.URL.Query()
	d, ok := s.phoneTarget(v, q.Get("kind"), q.Get("edit"))
	if !ok {
		redirect(w, r, "/security")
		return
	}
	if !s.phoneAllowed(w, r, v, phoneFormURL(d.Kind, d.Edit)) {
		return
	}
	s.renderPhone(w, r, v, "", d)
}

func (s *Server) phoneSend(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	d, ok := s.phoneTarget(v, r.PostFormValue("kind"), r.PostFormValue("edit"))
	if !ok {
		redirect(w, r, "/security")
		return
	}
	if !s.phoneAllowed(w, r, v, phoneFormURL(d.Kind, d.Edit)) {
		return
	}
	if d.Unavailable || d.Exists {
		s.renderPhone(w, r, v, "", d)
		return
	}
	d.Country, d.Number = r.PostFormValue("country"), strings.TrimSpace(r.PostFormValue("number"))
	d.Extension = strings.TrimSpace(r.PostFormValue("extension"))
	if via := r.PostFormValue("via"); (via == "sms" && d.SMS) || (via == "call" && d.Call) {
		d.Via = via
	}
	if len(d.Number) > 40 {
		d.Number = d.Number[:40]
	}
	if _, ok := findCountry(d.Country); !ok {
		d.Country = countries[0].Code
	}
	phone, ok := phoneNumber(d.Country, d.Number)
	if !ok {
		s.renderPhone(w, r, v, "err_phone_number", d)
		return
	}
	if d.Kind != store.KindOfficePhone {
		d.Extension = ""
	}
	if len(d.Extension) > 10 || !digitsOnly(d.Extension) {
		s.renderPhone(w, r, v, "err_phone_extension", d)
		return
	}
	p := pendingPhone{Kind: d.Kind, Phone: phone, Extension: d.Extension, Replace: d.Edit, Via: d.Via}
	var err error
	if d.Via == "sms" {
		if p.TryKey, err = newTryKey(); err != nil {
			s.fail(w, r, v, "send to a phone", err)
			return
		}
		p.Code, err = s.eng.SendVerificationCode(ctx, v.user.ID, phone)
	} else {
		p.Approval, err = s.eng.CallToVerify(ctx, v.user.ID, phone, d.Extension, v.lang)
	}
	switch {
	case errors.Is(err, challenge.ErrSendLimited):
		s.renderPhone(w, r, v, "err_phone_limited", d)
		return
	case errors.Is(err, challenge.ErrProvider), errors.Is(err, challenge.ErrNoProvider):
		s.renderPhone(w, r, v, "err_phone_send_failed", d)
		return
	case err != nil:
		s.fail(w, r, v, "send to a phone", err)
		return
	}
	if err := s.savePending(ctx, v.sess, &p); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	redirect(w, r, "/setup/phone/verify")
}

func (s *Server) verifyData(v *visit, p pendingPhone) phoneData {
	masked := challenge.MaskPhone(p.Phone)
	if p.Extension != "" {
		masked += " " + text(v.lang, "ext", p.Extension)
	}
	again := phoneFormURL(p.Kind, p.Replace)
	back := "/security"
	if len(v.methods) == 0 {
		back = "/setup"
	}
	return phoneData{Kind: p.Kind, Edit: p.Replace, Masked: masked, ViaSMS: p.Via == "sms", ViaCall: p.Via == "call",
		First: len(v.methods) == 0, Action: "/setup/phone/verify", Again: again, Cancel: back}
}

func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, v *visit, p pendingPhone, errKey, notice string) {
	s.render(w, r, v, http.StatusOK, "phoneverify", page{Title: "phone_verify_title", Error: errKey, Notice: notice, D: s.verifyData(v, p)})
}

func (s *Server) phoneVerifyPage(w http.ResponseWriter, r *http.Request, v *visit) {
	p, ok := pendingOf(v.sess)
	if !ok || p.SignIn != "" {
		redirect(w, r, "/")
		return
	}
	if !s.phoneAllowed(w, r, v, "/setup/phone/verify") {
		return
	}
	s.renderVerify(w, r, v, p, "", "")
}

// restart drops the pending number and shows its form again with errKey.
func (s *Server) restart(w http.ResponseWriter, r *http.Request, v *visit, p pendingPhone, errKey string) {
	if err := s.savePending(r.Context(), v.sess, nil); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	d, ok := s.phoneTarget(v, string(p.Kind), p.Replace)
	if !ok {
		redirect(w, r, "/security")
		return
	}
	s.renderPhone(w, r, v, errKey, d)
}

func (s *Server) phoneVerify(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	p, ok := pendingOf(v.sess)
	if !ok || p.SignIn != "" {
		redirect(w, r, "/")
		return
	}
	if !s.phoneAllowed(w, r, v, "/setup/phone/verify") {
		return
	}
	if p.Via == "sms" {
		code := strings.TrimSpace(r.PostFormValue("code"))
		res, err := s.tryCode(ctx, "phone", v.user.ID, p.TryKey, maxPhoneTries, p.Code.Expires,
			func() (bool, error) { return s.eng.CodeMatches(p.Code, code), nil })
		switch {
		case err != nil:
			s.fail(w, r, v, "try a code", err)
			return
		case res == codeSpent:
			s.restart(w, r, v, p, "err_phone_code_expired")
			return
		case res == codeWrong:
			s.renderVerify(w, r, v, p, "err_phone_code", "")
			return
		}
	} else {
		st, err := s.eng.VerificationStatus(ctx, v.user.ID, p.Approval)
		switch {
		case err != nil:
			s.fail(w, r, v, "read verification call", err)
			return
		case st == challenge.CallPending:
			s.renderVerify(w, r, v, p, "", "phone_call_waiting")
			return
		case st != challenge.CallApproved:
			s.restart(w, r, v, p, "err_phone_call_failed")
			return
		}
	}
	s.savePhone(w, r, v, p)
}

// savePhone saves a verified number: added, or replacing the phone it
// edits (keeping it the default if it was).
func (s *Server) savePhone(w http.ResponseWriter, r *http.Request, v *visit, p pendingPhone) {
	ctx := r.Context()
	// The number leaves the session before it becomes a method, so a
	// second submit of the same form cannot add it twice.
	first := len(v.methods) == 0
	v.sess.Verified = s.now()
	if err := s.savePending(ctx, v.sess, nil); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	wasDefault := false
	if p.Replace != "" {
		if !slices.ContainsFunc(v.methods, func(m store.Method) bool { return m.ID == p.Replace && m.Kind == p.Kind }) {
			redirect(w, r, "/security") // deleted meanwhile
			return
		}
		wasDefault = v.user.DefaultMethod == p.Replace
		if err := s.admin.DeleteMethod(ctx, v.user.ID, p.Replace, "portal"); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, v, "replace phone: delete the old number", err)
			return
		}
	}
	m, err := s.admin.AddPhone(ctx, v.user.ID, p.Kind, p.Phone, p.Extension, "", "portal")
	if errors.Is(err, store.ErrConflict) {
		d, _ := s.phoneTarget(v, string(p.Kind), "")
		d.Exists = true
		s.renderPhone(w, r, v, "err_phone_exists", d)
		return
	}
	if err != nil {
		s.fail(w, r, v, "add phone", err)
		return
	}
	if wasDefault {
		if u, err := s.st.GetUser(ctx, v.user.ID); err != nil || u.DefaultMethod != m.ID {
			if err := s.admin.SetDefault(ctx, v.user.ID, m.ID, "portal"); err != nil {
				s.log.Warn("portal: keep the replaced phone's default", "user", v.user.ID, "err", err)
			}
		}
	}
	if p.Replace != "" {
		if err := s.st.Audit(ctx, store.Event{At: s.now(), UserID: v.user.ID, Actor: "portal", Action: "phone_changed",
			Detail: fmt.Sprintf("kind=%s old=%s new=%s phone=%s", p.Kind, p.Replace, m.ID, challenge.MaskPhone(p.Phone))}); err != nil {
			s.log.Error("portal: audit", "err", err)
		}
		s.m.changes.WithLabelValues("phone_changed").Inc()
		s.notify(v, "mail_phone_changed", describe(v.user.Language, m))
		s.log.Info("phone number changed in the portal", "user", v.user.ID, "kind", string(p.Kind), "method", m.ID)
		redirect(w, r, "/security?notice=phone_changed")
		return
	}
	s.m.changes.WithLabelValues("method_added").Inc()
	s.log.Info("method added in the portal", "user", v.user.ID, "kind", string(p.Kind), "method", m.ID, "via", p.Via)
	s.notify(v, "mail_method_added", describe(v.user.Language, m))
	if first {
		redirect(w, r, s.afterFirstMethod("phone"))
		return
	}
	redirect(w, r, "/security?notice=added")
}

// Signing in (or stepping up) with an enrolled phone: a code by SMS to a
// phone, or a call to any phone answered with '#'.

// maxSignInTries is how many wrong codes one sign-in SMS tolerates (each
// also counts towards the shared code lockout).
const maxSignInTries = 3

func (s *Server) phoneSignInRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /signin/phone", s.with(anyone, s.signInPhoneSend))
	mux.HandleFunc("GET /signin/phone", s.with(anyone, s.signInPhonePage))
	mux.HandleFunc("POST /signin/phone/verify", s.with(anyone, s.signInPhoneVerify))
}

// phoneOption is a button on the code page: a code by SMS to, or a call
// to, one of the user's phones, or a notification to one of the user's
// push apps (Via "push", Detail its name).
type phoneOption struct {
	ID, Detail, Via string
}

// pushName is how the pages name a push app.
func pushName(lang string, m store.Method) string {
	if m.Label != "" {
		return m.Label
	}
	return text(lang, "signin_push_unnamed")
}

func (s *Server) phoneOptions(v *visit) []phoneOption {
	var out []phoneOption
	for _, m := range v.methods {
		if m.Kind == store.KindPush && s.eng.CanPush(m) {
			out = append(out, phoneOption{ID: m.ID, Detail: pushName(v.lang, m), Via: "push"})
		}
	}
	for _, m := range v.methods {
		if !isPhoneKind(m.Kind) {
			continue
		}
		detail := challenge.MaskPhone(m.Phone)
		if m.Extension != "" {
			detail += " " + text(v.lang, "ext", m.Extension)
		}
		if m.Kind == store.KindPhone && s.eng.CanSMS() {
			out = append(out, phoneOption{ID: m.ID, Detail: detail, Via: "sms"})
		}
		if s.eng.CanCall() {
			out = append(out, phoneOption{ID: m.ID, Detail: detail, Via: "call"})
		}
	}
	return out
}

// codeBack is the code page a sign-in by phone came from.
func codeBack(p pendingPhone) string {
	if p.Next != "" {
		return "/stepup?next=" + url.QueryEscape(p.Next)
	}
	return "/signin/code"
}

// renderCodeAgain shows the code page (sign-in or step-up) with errKey.
func (s *Server) renderCodeAgain(w http.ResponseWriter, r *http.Request, v *visit, stepUpNext, errKey string) {
	d := codeData{Action: "/signin/code", NoApp: !hasApp(v.methods), Phones: s.phoneOptions(v)}
	title := "code_title"
	if !s.needsCode(v) {
		d, title = s.stepupData(stepUpNext), "stepup_title"
		d.NoApp, d.Phones = !hasApp(v.methods), s.phoneOptions(v)
	}
	s.render(w, r, v, http.StatusOK, "code", page{Title: title, Error: errKey, D: d})
}

func (s *Server) signInPhoneSend(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	if v.sess == nil || len(v.methods) == 0 {
		redirect(w, r, "/")
		return
	}
	next := ""
	if !s.needsCode(v) {
		next = localPath(r.PostFormValue("next"))
	}
	id, via := r.PostFormValue("method"), r.PostFormValue("via")
	i := slices.IndexFunc(s.phoneOptions(v), func(o phoneOption) bool { return o.ID == id && o.Via == via })
	if i < 0 {
		s.renderCodeAgain(w, r, v, next, "err_no_method")
		return
	}
	m := v.methods[slices.IndexFunc(v.methods, func(m store.Method) bool { return m.ID == id })]
	p := pendingPhone{Kind: m.Kind, Phone: m.Phone, Extension: m.Extension, SignIn: id, Via: via, Next: next}
	var err error
	switch via {
	case "sms":
		if p.TryKey, err = newTryKey(); err != nil {
			s.fail(w, r, v, "send to a phone", err)
			return
		}
		p.Code, err = s.eng.SendSignInCode(ctx, v.user.ID, id)
	case "push":
		p.Label = pushName(v.lang, m)
		p.Approval, p.Number, err = s.eng.PushToSignIn(ctx, v.user.ID, id, v.lang)
	default:
		p.Approval, err = s.eng.CallToSignIn(ctx, v.user.ID, id, v.lang)
	}
	// A push app's errors have their own texts (err_push_...).
	errKey := func(phoneKey string) string {
		if via == "push" {
			return strings.Replace(phoneKey, "err_phone_", "err_push_", 1)
		}
		return phoneKey
	}
	switch {
	case errors.Is(err, challenge.ErrLocked):
		s.renderCodeAgain(w, r, v, next, "err_locked")
		return
	case errors.Is(err, challenge.ErrPhoneLocked):
		s.renderCodeAgain(w, r, v, next, errKey("err_phone_locked"))
		return
	case errors.Is(err, challenge.ErrSendLimited):
		s.renderCodeAgain(w, r, v, next, errKey("err_phone_limited"))
		return
	case errors.Is(err, challenge.ErrProvider), errors.Is(err, challenge.ErrNoProvider), errors.Is(err, store.ErrNotFound):
		s.renderCodeAgain(w, r, v, next, errKey("err_phone_send_failed"))
		return
	case err != nil:
		s.fail(w, r, v, "send to a phone", err)
		return
	}
	if err := s.savePending(ctx, v.sess, &p); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	redirect(w, r, "/signin/phone")
}

func (s *Server) renderSignInPhone(w http.ResponseWriter, r *http.Request, v *visit, p pendingPhone, errKey, notice string) {
	d := s.verifyData(v, p)
	d.Action, d.Again, d.Cancel, d.SignIn = "/signin/phone/verify", codeBack(p), "", true
	if p.Via == "push" {
		d.Masked, d.ViaCall, d.ViaPush, d.PushNumber = p.Label, false, true, p.Number
	}
	title := "code_title"
	if p.Next != "" {
		title = "stepup_title"
	}
	s.render(w, r, v, http.StatusOK, "phoneverify", page{Title: title, Error: errKey, Notice: notice, D: d})
}

// signInPending is the session's pending sign-in by phone, if any.
func signInPending(v *visit) (pendingPhone, bool) {
	p, ok := pendingOf(v.sess)
	return p, ok && p.SignIn != "" && len(v.methods) > 0
}

func (s *Server) signInPhonePage(w http.ResponseWriter, r *http.Request, v *visit) {
	p, ok := signInPending(v)
	if !ok {
		redirect(w, r, "/")
		return
	}
	s.renderSignInPhone(w, r, v, p, "", "")
}

func (s *Server) signInPhoneVerify(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	p, ok := signInPending(v)
	if !ok {
		redirect(w, r, "/")
		return
	}
	if p.Via == "sms" {
		res, err := s.tryCode(ctx, "signin_sms", v.user.ID, p.TryKey, maxSignInTries, p.Code.Expires, func() (bool, error) {
			good, err := s.eng.CheckSignInCode(ctx, v.user.ID, p.Code, r.PostFormValue("code"))
			if err == nil && !good {
				s.m.signins.WithLabelValues("bad_code").Inc()
			}
			return good, err
		})
		switch {
		case errors.Is(err, challenge.ErrLocked):
			s.m.signins.WithLabelValues("locked").Inc()
			if err := s.savePending(ctx, v.sess, nil); err != nil {
				s.log.Warn("portal: drop pending phone", "err", err)
			}
			s.renderCodeAgain(w, r, v, p.Next, "err_locked")
			return
		case err != nil:
			s.fail(w, r, v, "check a code sent by SMS", err)
			return
		case res == codeWrong:
			s.renderSignInPhone(w, r, v, p, "err_phone_code", "")
			return
		case res == codeSpent:
			if err := s.savePending(ctx, v.sess, nil); err != nil {
				s.fail(w, r, v, "save session", err)
				return
			}
			s.renderCodeAgain(w, r, v, p.Next, "err_phone_code_expired")
			return
		}
	} else {
		st, err := s.eng.VerificationStatus(ctx, v.user.ID, p.Approval)
		switch {
		case err != nil:
			s.fail(w, r, v, "read sign-in call", err)
			return
		case st == challenge.CallPending && p.Via == "push":
			s.renderSignInPhone(w, r, v, p, "", "signin_push_waiting")
			return
		case st == challenge.CallPending:
			s.renderSignInPhone(w, r, v, p, "", "phone_call_waiting")
			return
		case st != challenge.CallApproved:
			if err := s.savePending(ctx, v.sess, nil); err != nil {
				s.fail(w, r, v, "save session", err)
				return
			}
			errKey := "err_phone_call_failed"
			if p.Via == "push" {
				errKey = "err_push_signin_failed"
			}
			s.renderCodeAgain(w, r, v, p.Next, errKey)
			return
		}
	}
	s.m.signins.WithLabelValues("code_ok").Inc()
	if s.needsCode(v) {
		// Fully signed in now: a new token for the new privilege (the
		// old session, and the pending code with it, is gone).
		if _, err := s.startSession(ctx, w, v.sess, v.user.ID, v.lang, s.now()); err != nil {
			s.fail(w, r, v, "start session", err)
			return
		}
		redirect(w, r, "/")
		return
	}
	v.sess.Verified = s.now()
	if err := s.savePending(ctx, v.sess, nil); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	redirect(w, r, localPath(p.Next))
}
