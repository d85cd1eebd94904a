package callback

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/twilio"
	"kakunin/challenge/webhook"
	"kakunin/store"
)

// Decider is what the handlers need of the flow (challenge.Engine).
type Decider interface {
	Decide(ctx context.Context, id string, ans challenge.Answer, number int, via string) (store.Approval, error)
	GetApproval(ctx context.Context, id string) (store.Approval, error)
	Language() string
	LanguageOf(ctx context.Context, user string) string
}

// Options are the secrets the provider callbacks are checked with; an
// empty one turns its callback off.
type Options struct {
	// TwilioAuthToken checks X-Twilio-Signature on gather and status
	// callbacks.
	TwilioAuthToken string
	// PushGatewaySecret checks the signed decisions of the organisation's
	// push gateway (push.webhook): push approvals only.
	PushGatewaySecret string
	// CallGatewaySecret checks those of its telephony gateway
	// (voice.provider webhook): call approvals only.
	CallGatewaySecret string
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Handler serves the callbacks.
type Handler struct {
	d    Decider
	s    *Signer
	opt  Options
	log  *slog.Logger
	mux  *http.ServeMux
	cop  *http.CrossOriginProtection
	page *template.Template
	// replays holds the gateway decisions taken in the last maxSkew.
	replays *webhook.Replays
}

//go:embed templates
var templates embed.FS

// maxSkew is how far a push gateway's timestamp may be from ours.
const maxSkew = 5 * time.Minute

// maxReplays bounds the decisions remembered against replay: far more
// than gateways post in maxSkew (one per approval, which is capped per
// user); past it, decisions are refused rather than forgotten.
const maxReplays = 100_000

// New returns the callback handler. Every argument is required: a
// handler without a logger would fail on the first refused request, which
// anyone can send.
func New(d Decider, s *Signer, opt Options, log *slog.Logger) (*Handler, error) {
	switch {
	case d == nil:
		return nil, errors.New("callback: no decider")
	case s == nil:
		return nil, errors.New("callback: no signer")
	case log == nil:
		return nil, errors.New("callback: no logger")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	h := &Handler{d: d, s: s, opt: opt, log: log, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection(),
		page: template.Must(template.ParseFS(templates, "templates/*.html")), replays: webhook.NewReplays(maxReplays)}
	h.mux.HandleFunc("GET /v1/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		css, _ := templates.ReadFile("templates/style.css")
		w.Write(css)
	})
	h.mux.HandleFunc("GET /v1/approve/{token}", h.approvePage)
	h.mux.HandleFunc("POST /v1/approve/{token}", h.approvePost)
	h.mux.HandleFunc("POST /v1/push/{token}", h.push)
	h.mux.HandleFunc("POST /v1/gather/{token}", h.gather)
	h.mux.HandleFunc("POST /v1/status/{token}", h.status)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	// Browsers' cross-site form posts are refused; providers' server-to-
	// server callbacks carry no Origin or Sec-Fetch-Site and pass.
	h.cop.Handler(h.mux).ServeHTTP(w, r)
}

// approval checks the token and reads its approval; it answers the
// request itself when it cannot.
func (h *Handler) approval(w http.ResponseWriter, r *http.Request, kind challenge.CallbackKind) (store.Approval, bool) {
	id, err := h.s.verify(kind, r.PathValue("token"), h.opt.Now())
	var a store.Approval
	if err == nil {
		if a, err = h.d.GetApproval(r.Context(), id); err == nil {
			return a, true
		}
		if !errors.Is(err, store.ErrNotFound) {
			h.log.Error("callback: read approval", "err", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return a, false
		}
	}
	h.log.Info("callback refused", "kind", string(kind), "reason", err.Error(), "remote", r.RemoteAddr)
	if kind != challenge.CallbackApprove {
		// Providers and gateways get a plain answer: the same for a
		// forged, expired or purged token.
		http.Error(w, "not found", http.StatusNotFound)
		return store.Approval{}, false
	}
	// A person tapped the link: a page in their language. A token that
	// was signed by us but has expired (or whose approval was purged)
	// names a request that ended; anything else is not a link of ours.
	if errors.Is(err, errBadToken) {
		h.render(w, http.StatusNotFound, pageData{Lang: h.refusalLang(r, ""), State: "invalid"})
		return store.Approval{}, false
	}
	user := a.UserID
	if errors.Is(err, errExpired) {
		if a, err := h.d.GetApproval(r.Context(), id); err == nil {
			user = a.UserID
		}
	}
	h.render(w, http.StatusGone, pageData{Lang: h.refusalLang(r, user), State: "gone"})
	return store.Approval{}, false
}

// refusalLang is the language of a refusal page: the user's when the
// approval names one, else what the browser asks for among the page's
// languages, else the default.
func (h *Handler) refusalLang(r *http.Request, user string) string {
	if user != "" {
		return h.d.LanguageOf(r.Context(), user)
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if primary == "ja" || primary == "en" {
			return primary
		}
	}
	return h.d.Language()
}

type pageData struct {
	Lang    string
	State   string // "ask", "approved", "denied", "fraud", "gone", "invalid"
	Kind    string // push, call
	User    string
	Client  string
	Created string
	Numbers []int
}

var csp = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (h *Handler) render(w http.ResponseWriter, code int, p pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", csp)
	w.WriteHeader(code)
	if err := h.page.ExecuteTemplate(w, "approve.html", p); err != nil {
		h.log.Error("callback: render page", "err", err)
	}
}

// pageFor is the page for approval a and its status code: 410 for a
// request that ended unanswered.
func (h *Handler) pageFor(ctx context.Context, a store.Approval) (int, pageData) {
	client, _, _ := strings.Cut(a.Client, "@")
	p := pageData{Lang: h.d.LanguageOf(ctx, a.UserID), Kind: a.Kind, User: a.UserID, Client: client,
		Created: a.CreatedAt.Local().Format("2006-01-02 15:04:05"), Numbers: challenge.Choices(a)}
	switch {
	case a.Status == store.ApprovalPending && h.opt.Now().Before(a.ExpiresAt):
		p.State = "ask"
	case a.Status == store.ApprovalApproved:
		p.State = "approved"
	case a.Status == store.ApprovalFraud:
		p.State = "fraud"
	case a.Status == store.ApprovalPending, a.Status == store.ApprovalTimeout, a.Status == store.ApprovalFailed:
		p.State = "gone"
	default:
		p.State = "denied"
	}
	if p.State == "gone" {
		return http.StatusGone, p
	}
	return http.StatusOK, p
}

func (h *Handler) approvePage(w http.ResponseWriter, r *http.Request) {
	a, ok := h.approval(w, r, challenge.CallbackApprove)
	if !ok {
		return
	}
	code, p := h.pageFor(r.Context(), a)
	h.render(w, code, p)
}

// approvePost takes the page's answer: decision=approve (with number=N
// for number matching), deny or fraud; the demo's keypad sends key=#, 0
// or another key for calls.
func (h *Handler) approvePost(w http.ResponseWriter, r *http.Request) {
	a, ok := h.approval(w, r, challenge.CallbackApprove)
	if !ok {
		return
	}
	ans, number := challenge.Deny, 0
	switch r.PostFormValue("decision") {
	case "approve":
		ans = challenge.Approve
		number, _ = strconv.Atoi(r.PostFormValue("number"))
	case "fraud":
		ans = challenge.ReportFraud
	}
	if a.Kind == "call" {
		// The demo's keypad, as a call's keys: # approves, 0 reports.
		switch r.PostFormValue("key") {
		case "#":
			ans = challenge.Approve
		case "0":
			ans = challenge.ReportFraud
		}
	}
	got, err := h.d.Decide(r.Context(), a.ID, ans, number, "approve-page")
	if err != nil && !errors.Is(err, challenge.ErrDecided) {
		h.log.Error("callback: decide", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	code, p := h.pageFor(r.Context(), got)
	h.render(w, code, p)
}

// push takes a push or telephony gateway's signed decision: signed with
// the secret of the approval's own channel, over its ID and purpose, and
// taken once.
func (h *Handler) push(w http.ResponseWriter, r *http.Request) {
	if h.opt.PushGatewaySecret == "" && h.opt.CallGatewaySecret == "" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	a, ok := h.approval(w, r, challenge.CallbackPush)
	if !ok {
		return
	}
	secret := map[string]string{"push": h.opt.PushGatewaySecret, "call": h.opt.CallGatewaySecret}[a.Kind]
	if secret == "" {
		// No gateway of this channel: nobody may decide it here.
		h.log.Warn("gateway decision for a channel without a gateway refused", "kind", a.Kind, "remote", r.RemoteAddr)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	d, err := webhook.ReadDecision(r, secret, a.ID, a.Kind, h.opt.Now(), maxSkew, h.replays)
	switch {
	case errors.Is(err, webhook.ErrReplayed):
		h.log.Warn("replayed gateway decision refused", "kind", a.Kind, "remote", r.RemoteAddr)
		http.Error(w, http.StatusText(http.StatusConflict), http.StatusConflict)
		return
	case errors.Is(err, webhook.ErrSignature):
		h.log.Warn("gateway decision with a bad signature refused", "kind", a.Kind, "remote", r.RemoteAddr)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	case err != nil:
		h.log.Warn("gateway decision refused", "kind", a.Kind, "err", err, "remote", r.RemoteAddr)
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return
	}
	ans := map[string]challenge.Answer{"approve": challenge.Approve, "deny": challenge.Deny, "fraud": challenge.ReportFraud}[d.Decision]
	got, err := h.d.Decide(r.Context(), a.ID, ans, d.Number, a.Kind+"-gateway")
	if err != nil && !errors.Is(err, challenge.ErrDecided) {
		h.log.Error("callback: decide", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	// A duplicate gets the outcome the first one set: retries are safe.
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"status": string(got.Status)})
}

// twilioForm parses and checks a Twilio callback.
func (h *Handler) twilioForm(w http.ResponseWriter, r *http.Request, kind challenge.CallbackKind) (store.Approval, bool) {
	if h.opt.TwilioAuthToken == "" {
		http.Error(w, "not found", http.StatusNotFound)
		return store.Approval{}, false
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return store.Approval{}, false
	}
	u := h.s.base + "/v1/" + string(kind) + "/" + r.PathValue("token")
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	if !twilio.ValidSignature(h.opt.TwilioAuthToken, u, r.PostForm, r.Header.Get("X-Twilio-Signature")) {
		h.log.Warn("Twilio callback with a bad signature refused", "kind", string(kind), "remote", r.RemoteAddr)
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		return store.Approval{}, false
	}
	return h.approval(w, r, kind)
}

// gather takes the key pressed in an approval call and says the outcome.
func (h *Handler) gather(w http.ResponseWriter, r *http.Request) {
	a, ok := h.twilioForm(w, r, challenge.CallbackGather)
	if !ok {
		return
	}
	ans := challenge.Deny
	switch twilio.GatherOutcome(r.PostForm) {
	case twilio.Approved:
		ans = challenge.Approve
	case twilio.Fraud:
		ans = challenge.ReportFraud
	}
	got, err := h.d.Decide(r.Context(), a.ID, ans, 0, "twilio")
	if err != nil && !errors.Is(err, challenge.ErrDecided) {
		h.log.Error("callback: decide", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write([]byte(twilio.OutcomeTwiML(h.d.LanguageOf(r.Context(), got.UserID), got.Status == store.ApprovalApproved, got.Status == store.ApprovalFraud)))
}

// status takes the end of an approval call: a call that ends before a
// key approved it denies (no answer, busy, hung up).
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	a, ok := h.twilioForm(w, r, challenge.CallbackStatus)
	if !ok {
		return
	}
	if sid, _ := twilio.CallEnded(r.PostForm); sid != "" {
		if _, err := h.d.Decide(r.Context(), a.ID, challenge.Deny, 0, "twilio-status"); err != nil && !errors.Is(err, challenge.ErrDecided) {
			h.log.Error("callback: decide", "err", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
