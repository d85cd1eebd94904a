package portal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"kakunin/challenge"
	"kakunin/portal/mail"
	"kakunin/store"
)

// The notification email: an address that is told of every change to the
// user's methods. It is saved only once a 6-digit code mailed to it is
// typed back, and it never signs in. Changes are mailed in the background:
// a mail that fails is logged and counted, and never holds up the change.

const (
	emailCodeTTL   = 10 * time.Minute // mail is slower than SMS
	maxEmailTries  = 5
	mailSendLimit  = 30 * time.Second // the code's mail, while the user waits
	notifyDeadline = time.Minute      // a notification in the background
)

func (s *Server) emailRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /setup/email", s.with(signedIn, s.emailPage))
	mux.HandleFunc("POST /setup/email", s.with(signedIn, s.emailSend))
	mux.HandleFunc("GET /setup/email/verify", s.with(signedIn, s.emailVerifyPage))
	mux.HandleFunc("POST /setup/email/verify", s.with(signedIn, s.emailVerify))
	mux.HandleFunc("POST /security/email/delete", s.with(signedIn, s.emailDelete))
}

// pendingEmail is an address being verified, sealed in the session's
// Pending field as a pending phone is (see pendingPhone), under its own
// prefix.
type pendingEmail struct {
	Address string              `json:"address"`
	Code    challenge.PhoneCode `json:"code"`
	TryKey  string              `json:"try,omitempty"`   // names the code's tries in the store (codetries.go)
	First   string              `json:"first,omitempty"` // first-method setup: "app" or "phone"
}

var emailPrefix = []byte("kakunin-email/1:")

// isSeed: the session's Pending holds an app's seed, not a pending phone
// or email.
func isSeed(b []byte) bool {
	return b != nil && !isPendingPhone(b) && !bytes.HasPrefix(b, emailPrefix)
}

func emailPendingOf(sess *store.Session) (pendingEmail, bool) {
	var p pendingEmail
	if sess == nil || !bytes.HasPrefix(sess.Pending, emailPrefix) {
		return p, false
	}
	if json.Unmarshal(sess.Pending[len(emailPrefix):], &p) != nil || p.Address == "" {
		return p, false
	}
	return p, true
}

func (s *Server) saveEmailPending(ctx context.Context, sess *store.Session, p *pendingEmail) error {
	if p == nil {
		sess.Pending = nil
	} else {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		sess.Pending = append(append([]byte(nil), emailPrefix...), b...)
	}
	return s.st.UpdateSession(ctx, *sess)
}

// emailMethodID is the pseudo method ID under which codes mailed to an
// address not (yet) saved are counted against the send limits, as
// challenge.PhoneMethodID does for numbers.
func emailMethodID(user, addr string) string {
	h := sha256.Sum256([]byte("kakunin/verify-email\x00" + user + "\x00" + strings.ToLower(addr)))
	return "e-" + base64.RawURLEncoding.EncodeToString(h[:18])
}

func sixDigits() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1000000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// emailData is the email form and the verification page.
type emailData struct {
	Unavailable bool   // no SMTP: the page says so
	Current     string // the registered address, masked
	Address     string // as typed
	OwnWarning  string // the typed address is the university's: warn once
	First       string // first-method setup: "app" or "phone"
	Masked      string // verify: where the code went (the address as the user typed it)
	Minutes     int
}

// firstDone is where first-method setup ends.
func firstDone(first string) string {
	if first == "phone" {
		return "/setup/done?method=phone"
	}
	return "/setup/done"
}

// afterFirstMethod is where first-method setup goes once the method is
// saved: the notification email when mail can be sent, else done.
func (s *Server) afterFirstMethod(kind string) string {
	if s.mailer == nil {
		return firstDone(kind)
	}
	return "/setup/email?first=" + kind
}

func firstOf(q string) string {
	if q == "app" || q == "phone" {
		return q
	}
	return ""
}

// emailAllowed checks what the email pages need; it has answered the
// request when it returns false. The email comes after a sign-in method.
func (s *Server) emailAllowed(w http.ResponseWriter, r *http.Request, v *visit, back string) bool {
	switch {
	case len(v.methods) == 0:
		redirect(w, r, "/")
	case s.stepUpDue(v):
		s.stepUp(w, r, back)
	default:
		return true
	}
	return false
}

func (s *Server) emailForm(v *visit, first string) emailData {
	d := emailData{Unavailable: s.mailer == nil, First: first}
	if v.email != nil {
		d.Current = challenge.MaskEmail(challenge.EmailAddress(*v.email))
	}
	return d
}

func (s *Server) renderEmail(w http.ResponseWriter, r *http.Request, v *visit, errKey string, d emailData) {
	p := page{Title: "email_title", Error: errKey, D: d}
	if d.Unavailable && errKey == "" {
		p.Error = "email_unavailable"
	}
	s.render(w, r, v, http.StatusOK, "email", p)
}

func emailFormURL(first string) string {
	if first != "" {
		return "/setup/email?first=" + first
	}
	return "/setup/email"
}

func (s *Server) emailPage(w http.ResponseWriter, r *http.Request, v *visit) {
	first := firstOf(r.URL.Query().Get("first"))
	if !s.emailAllowed(w, r, v, emailFormURL(first)) {
		return
	}
	s.renderEmail(w, r, v, "", s.emailForm(v, first))
}

func (s *Server) emailSend(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	first := firstOf(r.PostFormValue("first"))
	if !s.emailAllowed(w, r, v, emailFormURL(first)) {
		return
	}
	d := s.emailForm(v, first)
	if d.Unavailable {
		s.renderEmail(w, r, v, "", d)
		return
	}
	d.Address = strings.TrimSpace(r.PostFormValue("address"))
	if len(d.Address) > 254 {
		d.Address = d.Address[:254]
	}
	addr, err := challenge.NormalizeEmail(d.Address)
	if err != nil {
		s.renderEmail(w, r, v, "err_email_address", d)
		return
	}
	if v.email != nil && strings.EqualFold(challenge.EmailAddress(*v.email), addr) {
		s.renderEmail(w, r, v, "err_email_same", d)
		return
	}
	// The university's own address is allowed, after a warning: the
	// form comes back with it, and sending again goes ahead.
	if s.cfg.ownMailDomain(addr) && r.PostFormValue("own_ok") != addr {
		d.OwnWarning = addr
		s.renderEmail(w, r, v, "", d)
		return
	}
	now := s.now()
	ok, err := s.st.ReserveSend(ctx, v.user.ID, emailMethodID(v.user.ID, addr), now, s.eng.SendLimits())
	if err != nil {
		s.fail(w, r, v, "reserve a mail", err)
		return
	}
	if !ok {
		s.renderEmail(w, r, v, "err_email_limited", d)
		return
	}
	code, err := sixDigits()
	if err != nil {
		s.fail(w, r, v, "new code", err)
		return
	}
	tryKey, err := newTryKey()
	if err != nil {
		s.fail(w, r, v, "new code", err)
		return
	}
	mctx, cancel := context.WithTimeout(ctx, mailSendLimit)
	defer cancel()
	lang := v.lang
	err = s.mailer.Send(mctx, mail.Message{To: addr, Subject: text(lang, "mail_code_subject", s.issuer),
		Body: text(lang, "mail_code_body", code, int(emailCodeTTL/time.Minute))})
	if err != nil {
		s.m.mails.WithLabelValues("code", "failed").Inc()
		s.log.Warn("portal: verification mail not sent", "user", v.user.ID, "to", challenge.MaskEmail(addr), "err", err)
		s.renderEmail(w, r, v, "err_email_send_failed", d)
		return
	}
	s.m.mails.WithLabelValues("code", "sent").Inc()
	s.log.Info("portal: verification mail sent", "user", v.user.ID, "to", challenge.MaskEmail(addr))
	p := pendingEmail{Address: addr, Code: challenge.PhoneCode{Code: code, Expires: now.Add(emailCodeTTL)}, First: first, TryKey: tryKey}
	if err := s.saveEmailPending(ctx, v.sess, &p); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	redirect(w, r, "/setup/email/verify")
}

func (s *Server) renderEmailVerify(w http.ResponseWriter, r *http.Request, v *visit, p pendingEmail, errKey string) {
	s.render(w, r, v, http.StatusOK, "emailverify", page{Title: "email_verify_title", Error: errKey,
		D: emailData{Masked: p.Address, First: p.First, Minutes: int(emailCodeTTL / time.Minute)}})
}

func (s *Server) emailVerifyPage(w http.ResponseWriter, r *http.Request, v *visit) {
	p, ok := emailPendingOf(v.sess)
	if !ok {
		redirect(w, r, "/setup/email")
		return
	}
	if !s.emailAllowed(w, r, v, "/setup/email/verify") {
		return
	}
	s.renderEmailVerify(w, r, v, p, "")
}

func (s *Server) emailVerify(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	p, ok := emailPendingOf(v.sess)
	if !ok {
		redirect(w, r, "/setup/email")
		return
	}
	if !s.emailAllowed(w, r, v, "/setup/email/verify") {
		return
	}
	// startAgain drops the address: a new code is needed.
	startAgain := func() {
		if err := s.saveEmailPending(ctx, v.sess, nil); err != nil {
			s.fail(w, r, v, "save session", err)
			return
		}
		d := s.emailForm(v, p.First)
		d.Address = p.Address
		s.renderEmail(w, r, v, "err_email_code_expired", d)
	}
	res, err := s.tryCode(ctx, "email", v.user.ID, p.TryKey, maxEmailTries, p.Code.Expires, func() (bool, error) {
		return s.eng.CodeMatches(p.Code, strings.TrimSpace(r.PostFormValue("code"))), nil
	})
	switch {
	case err != nil:
		s.fail(w, r, v, "try a code", err)
		return
	case res == codeSpent:
		startAgain()
		return
	case res == codeWrong:
		s.renderEmailVerify(w, r, v, p, "err_email_code")
		return
	}
	// The address leaves the session before it is saved, so a second
	// submit cannot save it twice.
	if err := s.saveEmailPending(ctx, v.sess, nil); err != nil {
		s.fail(w, r, v, "save session", err)
		return
	}
	_, old, err := s.admin.SetEmail(ctx, v.user.ID, p.Address, "portal")
	if err != nil {
		s.fail(w, r, v, "save email", err)
		return
	}
	action := "email_added"
	if old != "" {
		action = "email_changed"
		// The old address hears of it first: whoever changed it may be
		// the one the user should be warned of.
		s.notifyTo(v, old, "mail_email_changed", challenge.MaskEmail(p.Address))
	}
	s.notifyTo(v, p.Address, "mail_email_added", "")
	s.m.changes.WithLabelValues(action).Inc()
	s.log.Info("notification email saved in the portal", "user", v.user.ID, "action", action)
	if p.First != "" {
		redirect(w, r, firstDone(p.First))
		return
	}
	redirect(w, r, "/security?notice=email_saved")
}

func (s *Server) emailDelete(w http.ResponseWriter, r *http.Request, v *visit) {
	if v.email == nil {
		redirect(w, r, "/security")
		return
	}
	if s.stepUpDue(v) {
		s.stepUp(w, r, "/setup/email")
		return
	}
	if err := s.admin.DeleteMethod(r.Context(), v.user.ID, v.email.ID, "portal"); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, v, "delete email", err)
		return
	}
	s.notify(v, "mail_email_deleted", challenge.MaskEmail(challenge.EmailAddress(*v.email)))
	s.m.changes.WithLabelValues("email_deleted").Inc()
	s.log.Info("notification email deleted in the portal", "user", v.user.ID)
	redirect(w, r, "/security?notice=email_deleted")
}

// describe names a method in a notification: its kind and its label or
// masked number.
func describe(lang string, m store.Method) string {
	d := kindName(lang, m.Kind)
	switch {
	case m.Phone != "":
		d += " " + challenge.MaskPhone(m.Phone)
	case m.Label != "":
		d += " (" + m.Label + ")"
	}
	return d
}

// notify mails a change to the user's notification email, if any.
func (s *Server) notify(v *visit, key, detail string) {
	if v.email != nil {
		s.notifyTo(v, challenge.EmailAddress(*v.email), key, detail)
	}
}

// notifyTo mails a change to addr in the user's language, in the
// background: a failure is logged and counted, and the change stands.
func (s *Server) notifyTo(v *visit, addr, key, detail string) {
	if s.mailer == nil || addr == "" {
		return
	}
	m := changeMail(userLang(v.user), s.issuer, v.user.ID, addr, key, detail, "mail_where", s.now())
	user, mailer := v.user.ID, s.mailer
	s.notes.Add(1)
	go func() {
		defer s.notes.Done()
		ctx, cancel := context.WithTimeout(context.Background(), notifyDeadline)
		defer cancel()
		if err := mailer.Send(ctx, m); err != nil {
			s.m.mails.WithLabelValues("notification", "failed").Inc()
			s.log.Warn("portal: notification not sent", "user", user, "to", challenge.MaskEmail(addr), "err", err)
			return
		}
		s.m.mails.WithLabelValues("notification", "sent").Inc()
	}()
}

// userLang is the language the user's mails are in: the one chosen in
// the portal, else the default.
func userLang(u store.User) string {
	if supported(u.Language) {
		return u.Language
	}
	return languages[0]
}

// changeMail is the notification of one change: what changed (key, with
// the user ID and detail), when, where (whereKey) and what to do if it was
// not the user.
func changeMail(lang, issuer, userID, to, key, detail, whereKey string, now time.Time) mail.Message {
	body := text(lang, key, userID, detail) + "\n\n" +
		text(lang, "mail_when", formatDate(lang, now)) + "\n" +
		text(lang, whereKey) + "\n\n" + text(lang, "mail_footer")
	return mail.Message{To: to, Subject: text(lang, "mail_change_subject", issuer), Body: body}
}

// HelpDeskActions are the changes MailHelpDeskChange tells of.
var HelpDeskActions = []string{"method_added", "method_deleted", "default_changed", "reset"}

// MailHelpDeskChange mails a change the help desk made (kakunin user) to
// the user's notification email, as the portal mails its own changes: in
// the user's language, with the user ID and detail (DescribeMethod). It
// sends at once and returns the error, which the caller reports without
// undoing the change.
func MailHelpDeskChange(ctx context.Context, m Mailer, issuer string, u store.User, email store.Method, action, detail string, now time.Time) error {
	if !slices.Contains(HelpDeskActions, action) {
		return fmt.Errorf("no notification for %q", action)
	}
	to := challenge.EmailAddress(email)
	if to == "" {
		return fmt.Errorf("not an email method")
	}
	return m.Send(ctx, changeMail(userLang(u), issuer, u.ID, to, "mail_"+action, detail, "mail_where_helpdesk", now))
}

// DescribeMethod names a method in a notification, in the user's
// language: its kind and its label or masked number.
func DescribeMethod(u store.User, m store.Method) string { return describe(userLang(u), m) }

// waitNotifications waits for the notifications in flight, up to ctx.
func (s *Server) waitNotifications(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.notes.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notifications still being sent: %w", ctx.Err())
	}
}

// emailView is the security page's email line.
type emailView struct {
	Address string // masked
	Added   time.Time
}

func (s *Server) emailView(v *visit) *emailView {
	if v.email == nil {
		return nil
	}
	return &emailView{Address: challenge.MaskEmail(challenge.EmailAddress(*v.email)), Added: v.email.CreatedAt}
}

// describeID describes one of the user's methods by ID.
func (s *Server) describeID(v *visit, id string) string {
	for _, m := range v.methods {
		if m.ID == id {
			return describe(v.user.Language, m)
		}
	}
	return id
}
