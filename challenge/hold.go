package challenge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"kakunin/store"
)

// Push and voice approvals hold the Access-Request until the user answers
// on the phone. The approval lives in the store: a callback may reach any
// node, a gateway's retransmit to another node attaches to it instead of
// starting a second push or call, and a node that restarts fails what its
// earlier run held. Each held request is one goroutine waiting on a
// channel; the watcher fills the channels from the store.

// Challenge kinds of approvals (store.Challenge.Kind, store.Approval.Kind).
const (
	kindPush = "push"
	kindCall = "call"
)

// watcher delivers decided approvals to the requests held for them: at
// once when the callback reached this node, else by polling the store for
// approvals decided since the last poll (one query per interval, however
// many requests are held).
type watcher struct {
	mu      sync.Mutex
	waiting map[string]map[chan store.Approval]struct{}
	// Requests held on this node, by approval and by user
	// (flow.hold.max_per_approval, flow.hold.max_per_user).
	perApproval map[string]int
	perUser     map[string]int
	// ended are the approvals whose requests were answered at shutdown.
	ended map[string]store.Approval
}

func newWatcher() *watcher {
	return &watcher{waiting: map[string]map[chan store.Approval]struct{}{},
		perApproval: map[string]int{}, perUser: map[string]int{}}
}

// take counts one more request held for approval id of user, unless that
// would pass maxApproval for the approval or maxUser for the user.
// release gives the place back; calling it again does nothing.
func (w *watcher) take(user, id string, maxApproval, maxUser int) (release func(), ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.perApproval[id] >= maxApproval || w.perUser[user] >= maxUser {
		return nil, false
	}
	w.perApproval[id]++
	w.perUser[user]++
	return sync.OnceFunc(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.perApproval[id]--; w.perApproval[id] <= 0 {
			delete(w.perApproval, id)
		}
		if w.perUser[user]--; w.perUser[user] <= 0 {
			delete(w.perUser, user)
		}
	}), true
}

func (w *watcher) register(id string) chan store.Approval {
	ch := make(chan store.Approval, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting[id] == nil {
		w.waiting[id] = map[chan store.Approval]struct{}{}
	}
	w.waiting[id][ch] = struct{}{}
	return ch
}

func (w *watcher) unregister(id string, ch chan store.Approval) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiting[id], ch)
	if len(w.waiting[id]) == 0 {
		delete(w.waiting, id)
	}
}

// notify hands a decided approval to everyone waiting for it.
func (w *watcher) notify(a store.Approval) {
	if a.Status == store.ApprovalPending {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.waiting[a.ID] {
		select {
		case ch <- a:
		default: // already told
		}
	}
}

// ending notes an approval whose held request was answered because the
// transport stopped; takeEnding returns each such approval once.
func (w *watcher) ending(a store.Approval) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended == nil {
		w.ended = map[string]store.Approval{}
	}
	w.ended[a.ID] = a
}

func (w *watcher) takeEnding() []store.Approval {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]store.Approval, 0, len(w.ended))
	for _, a := range w.ended {
		out = append(out, a)
	}
	w.ended = nil
	return out
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiting)
}

// subscribe starts listening for the approval's decision: the channel
// receives it once. If it was decided before (read from the store), that
// is returned as decided. stop unsubscribes.
func (w *watcher) subscribe(ctx context.Context, st store.Store, id string) (ch chan store.Approval, decided *store.Approval, stop func()) {
	ch = w.register(id)
	stop = func() { w.unregister(id, ch) }
	if a, err := st.GetApproval(ctx, id); err == nil && a.Status != store.ApprovalPending {
		return ch, &a, stop
	}
	return ch, nil, stop
}

// clockSkew is how far the nodes' clocks may disagree: the watcher looks
// this far back for decisions, which another node timestamps.
const clockSkew = 5 * time.Second

// Run fails the approvals an earlier run of this node held (held requests
// do not survive a restart as accepts), then, every interval until ctx
// ends, hands approvals decided on any node to the requests held here.
func (e *Engine) Run(ctx context.Context, interval time.Duration) error {
	n, err := e.st.FailApprovals(ctx, e.cfg.Hold.NodeName, e.boot, e.now())
	if err != nil && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fail approvals held before a restart: %w", err)
	}
	if n > 0 {
		e.log.Warn("approvals held by this node before it restarted were failed", "approvals", n)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	cursor := e.now().Add(-clockSkew)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		next := e.now().Add(-clockSkew)
		if e.watch.count() == 0 {
			cursor = next
			continue
		}
		as, err := e.st.DecidedApprovals(ctx, cursor)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("read decided approvals", "err", err)
			}
			continue // the same window again next time
		}
		for _, a := range as {
			e.watch.notify(a)
		}
		cursor = next
	}
}

// stateKey is the approval key of a request carrying State s: a hash, as
// the State itself answers a challenge.
func stateKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return "s:" + base64.RawURLEncoding.EncodeToString(h[:18])
}

// identityKey is the approval key of a first-round request: what only a
// copy of this very sign-in shares, whichever server the gateway asks. A
// gateway that retransmits keeps the Identifier and the Request
// Authenticator (RFC 2865 section 3, RFC 5080 section 2.2.1); one that
// fails over to another server may compute a new Request Authenticator,
// but keeps its own session identifier when it sends one. The user, the
// gateway and the station alone do not tell two sign-ins apart (two people
// behind one NAT, or someone else who has the password): they would ride
// on one approval.
func identityKey(req *Request) string {
	same := "request:" + req.RequestID
	if req.SessionID != "" {
		same = "session:" + req.SessionID
	}
	h := sha256.New()
	for _, s := range []string{req.UserName, req.ClientAddr.String(), req.NASIdentifier, req.CallingStationID, same} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "i:" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

func holdKey(req *Request) string {
	if len(req.State) > 0 {
		return stateKey(string(req.State))
	}
	return identityKey(req)
}

// mayAttach: a request may wait for an approval started by this run of
// this node or by another node, never by an earlier run of this node.
func (e *Engine) mayAttach(a store.Approval) bool {
	name, _, _ := strings.Cut(a.Node, "/")
	return a.Node == e.node() || name != e.cfg.Hold.NodeName
}

func (e *Engine) node() string { return e.cfg.Hold.NodeName + "/" + e.boot }

// attach finds an approval a copy of this request already started (a
// retransmit that reached this node after the gateway failed over, or a
// retransmit after the first copy's answer was lost) and waits for it or
// returns its outcome. ok is false when there is none to attach to. key
// holds what proves the copy is the same sign-in (identityKey, stateKey).
func (e *Engine) attach(ctx context.Context, req *Request, key string, now time.Time) (Decision, bool) {
	a, err := e.st.FindApproval(ctx, key, req.RequestID, now)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("find approval", "err", err)
		}
		return Decision{}, false
	}
	if a.UserID != req.UserName || a.Client != nasKey(req) {
		return Decision{}, false
	}
	sameRequest := a.RequestID != "" && a.RequestID == req.RequestID
	switch {
	case !e.mayAttach(a):
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgInterrupted), Reason: "interrupted", Method: a.Kind}, true
	case a.Status == store.ApprovalPending:
		e.log.Info("request attached to a pending approval", "user", a.UserID, "kind", a.Kind, "started_by", a.Node)
		return e.hold(ctx, req, a, now, nil), true
	case sameRequest:
		return e.outcome(a), true
	}
	return Decision{}, false
}

// reserveHold takes a place for req to wait for approval a: first under
// this node's caps per approval and per user, then in the transport
// (radius.max_held). Refused, it holds nothing and nothing else changes:
// the approval and the requests already waiting for it go on, and only
// this request is told the service is busy.
func (e *Engine) reserveHold(req *Request, a store.Approval) (release func(), ok bool) {
	release, ok = e.watch.take(a.UserID, a.ID, e.cfg.Hold.MaxPerApproval, e.cfg.Hold.MaxPerUser)
	if !ok {
		e.log.Warn("request not held: too many held for this approval or user", "user", a.UserID, "kind", a.Kind,
			"max_per_approval", e.cfg.Hold.MaxPerApproval, "max_per_user", e.cfg.Hold.MaxPerUser)
		return nil, false
	}
	if req.Hold != nil && !req.Hold() {
		release()
		return nil, false
	}
	return release, true
}

func (e *Engine) busy(kind string) Decision {
	return Decision{Outcome: Reject, Messages: e.msgs.render(msgBusy), Reason: "busy", Method: kind}
}

// hold returns a Hold decision whose Wait waits for the approval's
// outcome, at most until it expires or the hold timeout. release is the
// place reserveHold took for the request, nil to take it here. Everything
// that needs the directory, the store or a deep stack is done here, on the
// deciding goroutine; Wait only selects on a channel and a timer, so a
// goroutine per held request stays small.
func (e *Engine) hold(ctx context.Context, req *Request, a store.Approval, now time.Time, release func()) Decision {
	if release == nil {
		var ok bool
		if release, ok = e.reserveHold(req, a); !ok {
			return e.busy(a.Kind)
		}
	}
	ch, decided, stop := e.watch.subscribe(ctx, e.st, a.ID)
	if decided != nil {
		stop()
		release()
		return e.outcome(*decided)
	}
	wait := min(a.ExpiresAt.Sub(now), e.cfg.Hold.Timeout)
	return Decision{Outcome: Hold, Method: a.Kind, Reason: "held", Wait: func(ctx context.Context) Decision {
		// Only the wait itself runs before the goroutine blocks, in
		// small frames: ten thousand held requests keep the stack each
		// grew to by then (2-4 KB, not 8). What the answer takes is
		// done in afterHold, once woken.
		e.m.held.Inc()
		return e.afterHold(ctx, &a, ch, waitApproval(ctx, ch, wait), release, stop)
	}}
}

// waitApproval waits for the approval's decision on ch, at most d or
// until ctx ends; nil when none came.
func waitApproval(ctx context.Context, ch <-chan store.Approval, d time.Duration) *store.Approval {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case got := <-ch:
		return &got
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// afterHold answers a held request once its wait is over: with the
// decision, or, when none came in time, by closing the approval so that a
// late approval cannot count; at shutdown at once ("try again").
func (e *Engine) afterHold(ctx context.Context, a *store.Approval, ch <-chan store.Approval, got *store.Approval, release, stop func()) Decision {
	defer release()
	defer stop()
	defer e.m.held.Dec()
	if got != nil {
		return e.outcome(*got)
	}
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrShuttingDown) {
		select {
		case got := <-ch:
			return e.outcome(got) // decided just now: that answer stands
		default:
		}
		// Answer at once, and leave the store to Shutdown: a node
		// stopping with thousands held must answer them all within its
		// grace, not write each first.
		e.watch.ending(*a)
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgShutdown), Reason: "shutdown", Method: a.Kind}
	}
	return e.outcome(e.close(ctx, *a, store.ApprovalTimeout))
}

// ErrShuttingDown is the cause (context.Cause) a transport that stops
// cancels held requests' contexts with: they are answered at once with a
// reject that asks the user to try again (reason "shutdown"), and
// Shutdown then fails their approvals in the store.
var ErrShuttingDown = errors.New("server shutting down")

// Shutdown fails the approvals of the requests answered because the
// transport stopped (ErrShuttingDown), so that none stays pending until
// this node restarts and none turns into an accept later. Call it after
// the transport has stopped and before the store is closed. It returns
// how many approvals it failed.
func (e *Engine) Shutdown(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	for _, a := range e.watch.takeEnding() {
		got, changed, err := e.st.DecideApproval(ctx, a.ID, store.ApprovalFailed, e.now())
		if err != nil {
			errs = append(errs, fmt.Errorf("fail approval %s: %w", a.ID, err))
			continue
		}
		if changed {
			n++
			e.m.approvals.WithLabelValues(got.Kind, string(store.ApprovalFailed)).Inc()
		}
	}
	if n > 0 {
		e.log.Info("approvals of requests answered at shutdown failed", "approvals", n)
	}
	return n, errors.Join(errs...)
}

// close decides a pending approval as status and returns where it stands
// (someone may have decided it first).
func (e *Engine) close(ctx context.Context, a store.Approval, status store.ApprovalStatus) store.Approval {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	got, changed, err := e.st.DecideApproval(ctx, a.ID, status, e.now())
	if err != nil {
		e.log.Warn("close approval", "user", a.UserID, "status", string(status), "err", err)
		a.Status = status
		return a
	}
	if changed {
		e.m.approvals.WithLabelValues(a.Kind, string(status)).Inc()
		e.watch.notify(got)
	}
	return got
}

// outcome is the decision a decided approval gives.
func (e *Engine) outcome(a store.Approval) Decision {
	d := Decision{Outcome: Reject, Method: a.Kind, Reason: string(a.Status)}
	switch a.Status {
	case store.ApprovalApproved:
		return Decision{Outcome: Accept, Groups: a.Groups, Reason: "ok", Method: a.Kind}
	case store.ApprovalDenied:
		d.Messages = e.msgs.render(msgDenied)
	case store.ApprovalWrongNumber:
		d.Messages = e.msgs.render(msgWrongNumber)
	case store.ApprovalFraud:
		d.Messages = e.msgs.render(msgFraud)
	case store.ApprovalFailed:
		d.Messages, d.Reason = e.msgs.render(msgInterrupted), "interrupted"
	default: // timeout, or still pending past its expiry
		d.Messages, d.Reason = e.msgs.render(msgNoAnswer), "no_answer"
	}
	return d
}

// newApproval is a pending approval of the request for method m.
func (e *Engine) newApproval(req *Request, c store.Challenge, m store.Method, kind, key string, ttl time.Duration, now time.Time) store.Approval {
	return store.Approval{ID: store.NewID(), UserID: c.UserID, MethodID: m.ID, Kind: kind, Key: key,
		RequestID: req.RequestID, Client: c.Client, Groups: c.Groups, Node: e.node(),
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
}

// PushRegistration is what a push method's secret holds: the channel that
// reaches the phone and the channel's address of it.
type PushRegistration struct {
	Channel string `json:"channel"` // "webpush", "webhook" or "console"
	// Device is the push gateway's token for the phone (webhook).
	Device string `json:"device,omitempty"`
	// Subscription is the browser's PushSubscription (webpush).
	Subscription json.RawMessage `json:"subscription,omitempty"`
}

// pushChannel is the configured channel a push method's registration
// names, nil when there is none.
func (e *Engine) pushChannel(m store.Method) Pusher {
	if len(e.pushers) == 0 {
		return nil
	}
	var r PushRegistration
	if json.Unmarshal(m.Secret, &r) != nil {
		return nil
	}
	return e.pushers[r.Channel]
}

func pushLabel(lang string, m store.Method) string {
	if m.Label != "" {
		return m.Label
	}
	if lang == "ja" {
		return "スマートフォン"
	}
	return "your phone"
}

// startPush sends a push notification. With number matching the VPN
// client is challenged with the number to pick, and the request that
// answers the challenge is held; without, this request is held.
func (e *Engine) startPush(ctx context.Context, req *Request, c store.Challenge, o option, opts []option, numberMatching bool, now time.Time) Decision {
	others := without(opts, o)
	a := e.newApproval(req, c, o.m, kindPush, holdKey(req), e.cfg.Hold.Timeout, now)
	// Without number matching this request is held: take its place
	// before anything reaches the phone.
	release := func() {}
	if !numberMatching {
		var ok bool
		if release, ok = e.reserveHold(req, a); !ok {
			return e.busy(kindPush)
		}
	}
	if numberMatching {
		state, err := newState()
		if err != nil {
			return e.unavailable(req, "random_error", err)
		}
		if a.Number, a.Choices, err = drawNumbers(); err != nil {
			return e.unavailable(req, "random_error", err)
		}
		c.State, a.Key = state, stateKey(state)
		// The user reads the number, answers on the phone and presses
		// Enter: the approval lasts as long as the challenge.
		a.ExpiresAt = now.Add(max(e.cfg.ChallengeTTL, e.cfg.Hold.Timeout))
	}
	ok, err := e.st.CreateApproval(ctx, a, e.cfg.Push.MaxPerUser, now.Add(-e.cfg.Push.Window))
	if err != nil {
		release()
		return e.unavailable(req, "store_error", err)
	}
	if !ok {
		release()
		e.m.pushLimited.Inc()
		if len(others) > 0 {
			return e.offer(ctx, req, c, others, e.msgs.render(msgPushLimited), "push_limited", now)
		}
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgPushLimited), Reason: "push_limited", Method: kindPush}
	}
	if err := e.sendPush(ctx, a, o.m); err != nil {
		release()
		e.close(ctx, a, store.ApprovalFailed)
		if len(others) > 0 {
			return e.offer(ctx, req, c, others, e.msgs.render(msgPushFailed), "push_failed", now)
		}
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgPushFailed), Reason: "push_failed", Method: kindPush}
	}
	if !numberMatching {
		return e.hold(ctx, req, a, now, release)
	}
	c.Kind, c.MethodID, c.Secret, c.ExpiresAt = kindPush, o.m.ID, []byte(a.ID), a.ExpiresAt
	prompt := e.msgs.renderWith(msgPushPrompt, map[string]string{"label": pushLabel(e.cfg.Languages[0], o.m), "number": fmt.Sprint(a.Number)})
	return e.issue(ctx, req, c, prompt, "challenge_push", now)
}

func (e *Engine) sendPush(ctx context.Context, a store.Approval, m store.Method) error {
	lang := e.userLanguage(ctx, a.UserID)
	return e.sendPushAs(ctx, a, m, lang, e.msgs.renderOne(lang, msgPushBody, map[string]string{"user": a.UserID}))
}

// sendPushAs sends the notification of approval a to push method m, in
// lang, saying body.
func (e *Engine) sendPushAs(ctx context.Context, a store.Approval, m store.Method, lang, body string) error {
	p := e.pushChannel(m)
	if p == nil {
		return errors.New("no push channel for this registration")
	}
	r := PushRequest{
		ApprovalID:   a.ID,
		UserID:       a.UserID,
		Registration: m.Secret,
		Language:     lang,
		Title:        "VPN",
		Body:         body,
		Numbers:      Choices(a),
		ApproveURL:   e.callbacks.URL(CallbackApprove, a.ID, a.ExpiresAt),
		CallbackURL:  e.callbacks.URL(CallbackPush, a.ID, a.ExpiresAt),
		Expires:      a.ExpiresAt,
	}
	t := time.Now()
	err := p.Push(ctx, r)
	e.m.providerDuration.WithLabelValues("push").Observe(time.Since(t).Seconds())
	if err != nil {
		e.m.providerErrors.WithLabelValues("push").Inc()
		e.log.Error("push not sent", "user", a.UserID, "method", m.ID, "err", err)
	}
	return err
}

// resumePush holds the request that answers a number-matching challenge.
func (e *Engine) resumePush(ctx context.Context, req *Request, c store.Challenge, now time.Time) Decision {
	a, err := e.st.GetApproval(ctx, string(c.Secret))
	if errors.Is(err, store.ErrNotFound) {
		return e.reject(msgExpired, "unknown_state")
	}
	if err != nil {
		return e.unavailable(req, "store_error", err)
	}
	if a.UserID != c.UserID {
		return e.reject(msgExpired, "state_mismatch")
	}
	// A retransmit of this request to another node finds the approval by
	// the State it carries.
	if a.Status != store.ApprovalPending {
		return e.outcome(a)
	}
	return e.hold(ctx, req, a, now, nil)
}

// startCall calls the phone and holds the request until the call's
// outcome.
func (e *Engine) startCall(ctx context.Context, req *Request, c store.Challenge, o option, opts []option, now time.Time) Decision {
	m, others := o.m, without(opts, o)
	a := e.newApproval(req, c, m, kindCall, holdKey(req), e.cfg.Hold.Timeout, now)
	release, held := e.reserveHold(req, a)
	if !held {
		return e.busy(kindCall)
	}
	ok, err := e.st.ReserveSend(ctx, c.UserID, m.ID, now, e.sendLimits())
	if err != nil {
		release()
		return e.unavailable(req, "store_error", err)
	}
	if !ok {
		release()
		e.m.smsLimited.Inc()
		if len(others) > 0 {
			return e.offer(ctx, req, c, others, e.msgs.render(msgCallLimited), "call_limited", now)
		}
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgCallLimited), Reason: "call_limited", Method: kindCall}
	}
	if _, err := e.st.CreateApproval(ctx, a, 0, time.Time{}); err != nil {
		release()
		return e.unavailable(req, "store_error", err)
	}
	lang := e.userLanguage(ctx, a.UserID)
	r := CallRequest{
		ApprovalID: a.ID,
		To:         m.Phone,
		Extension:  m.Extension,
		Language:   lang,
		Prompt:     e.msgs.renderOne(lang, msgCallSpoken, nil),
		GatherURL:  e.callbacks.URL(CallbackGather, a.ID, a.ExpiresAt),
		StatusURL:  e.callbacks.URL(CallbackStatus, a.ID, a.ExpiresAt),
		ApproveURL: e.callbacks.URL(CallbackApprove, a.ID, a.ExpiresAt),
		// The same signed decision endpoint as a push gateway's.
		DecisionURL: e.callbacks.URL(CallbackPush, a.ID, a.ExpiresAt),
		Expires:     a.ExpiresAt,
	}
	t := time.Now()
	err = e.caller.Call(ctx, r)
	e.m.providerDuration.WithLabelValues("voice").Observe(time.Since(t).Seconds())
	if err != nil {
		e.m.providerErrors.WithLabelValues("voice").Inc()
		e.log.Error("call not placed", "user", a.UserID, "method", m.ID, "to", MaskPhone(m.Phone), "err", err)
		release()
		e.close(ctx, a, store.ApprovalFailed)
		if len(others) > 0 {
			return e.offer(ctx, req, c, others, e.msgs.render(msgCallFailed), "call_failed", now)
		}
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgCallFailed), Reason: "call_failed", Method: kindCall}
	}
	return e.hold(ctx, req, a, now, release)
}

// Choices are the three numbers a number-matching notification offers,
// the right one among them, as drawn when the approval was created and
// stored with it: the same on every node and every call; nil without
// number matching (or for an approval stored without choices, which then
// offers no number to pick and cannot be approved).
func Choices(a store.Approval) []int {
	if a.Number == 0 || !slices.Contains(a.Choices, a.Number) {
		return nil
	}
	return slices.Clone(a.Choices)
}

// numChoices is how many numbers a number-matching notification offers.
const numChoices = 3

// drawNumbers draws, with crypto/rand, the two-digit number the VPN
// prompt shows, the decoys the notification shows with it and the right
// number's place among them: nothing public (the approval's ID is in
// every URL and notification) predicts them.
func drawNumbers() (number int, choices []int, err error) {
	draw := func() (int, error) {
		n, err := rand.Int(rand.Reader, big.NewInt(90))
		if err != nil {
			return 0, fmt.Errorf("draw numbers: %w", err)
		}
		return 10 + int(n.Int64()), nil
	}
	if number, err = draw(); err != nil {
		return 0, nil, err
	}
	out := []int{number}
	for len(out) < numChoices {
		d, err := draw()
		if err != nil {
			return 0, nil, err
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	j, err := rand.Int(rand.Reader, big.NewInt(numChoices))
	if err != nil {
		return 0, nil, fmt.Errorf("draw numbers: %w", err)
	}
	out[0], out[j.Int64()] = out[j.Int64()], out[0]
	return number, out, nil
}

// Answer is a user's answer to an approval.
type Answer int

const (
	Approve Answer = iota
	Deny
	ReportFraud
)

// ErrDecided is returned by Decide for an approval that was already
// decided or has expired: the callback is a duplicate or late, and
// changes nothing.
var ErrDecided = errors.New("approval already decided or expired")

// Decide records the answer to an approval from a callback (the approve
// page, a push gateway, a call's key press): number is the number picked
// on the phone, checked when the approval uses number matching. A fraud
// report locks the user's push and phone methods and is audited. Decide
// is idempotent: the first answer counts, later ones get ErrDecided.
func (e *Engine) Decide(ctx context.Context, id string, ans Answer, number int, via string) (store.Approval, error) {
	a, err := e.st.GetApproval(ctx, id)
	if err != nil {
		return a, err
	}
	now := e.now()
	if a.Status != store.ApprovalPending || !now.Before(a.ExpiresAt) {
		return a, ErrDecided
	}
	status := store.ApprovalDenied
	switch {
	case ans == ReportFraud:
		status = store.ApprovalFraud
	case ans == Approve && a.Number != 0 && number != a.Number:
		status = store.ApprovalWrongNumber
	case ans == Approve:
		status = store.ApprovalApproved
	}
	got, changed, err := e.st.DecideApproval(ctx, id, status, now)
	if err != nil {
		return got, err
	}
	if !changed {
		return got, ErrDecided
	}
	e.m.approvals.WithLabelValues(got.Kind, string(status)).Inc()
	e.watch.notify(got)
	e.log.Info("approval decided", "user", got.UserID, "kind", got.Kind, "outcome", string(status), "via", via)
	switch status {
	case store.ApprovalFraud:
		e.log.Warn("sign-in reported as fraud: push and phone methods locked", "user", got.UserID, "kind", got.Kind)
		if err := e.st.SetOutOfBandLock(ctx, got.UserID, true, now); err != nil {
			e.log.Error("lock out-of-band methods after a fraud report", "user", got.UserID, "err", err)
		}
		if err := e.st.Audit(ctx, store.Event{At: now, UserID: got.UserID, Actor: via, Action: "fraud_reported",
			Detail: got.Kind + " approval reported as not the user's; push and phone methods locked"}); err != nil {
			e.log.Warn("audit fraud report", "err", err)
		}
	case store.ApprovalWrongNumber:
		if err := e.st.Audit(ctx, store.Event{At: now, UserID: got.UserID, Actor: via, Action: "wrong_number",
			Detail: "push approved with a number other than the one shown"}); err != nil {
			e.log.Warn("audit wrong number", "err", err)
		}
	}
	return got, nil
}

// GetApproval returns an approval for a callback page to show.
func (e *Engine) GetApproval(ctx context.Context, id string) (store.Approval, error) {
	return e.st.GetApproval(ctx, id)
}

// Language is the default language of calls, notifications and approval
// pages; LanguageOf is a user's.
func (e *Engine) Language() string { return e.cfg.Languages[0] }

// LanguageOf is the language calls, notifications and approval pages use
// for the user (see userLanguage).
func (e *Engine) LanguageOf(ctx context.Context, user string) string {
	return e.userLanguage(ctx, user)
}

// heldBefore: the user has a method that holds requests, so a copy of
// this request may be waiting for an approval.
func heldBefore(opts []option) bool {
	for _, o := range opts {
		if o.voice || o.m.Kind == store.KindPush {
			return true
		}
	}
	return false
}

// userLanguage is the language the user chose in the portal, when this
// server speaks it, else the first configured one: what calls say and
// notifications show.
func (e *Engine) userLanguage(ctx context.Context, user string) string {
	if u, err := e.st.GetUser(ctx, user); err == nil && u.Language != "" {
		if _, ok := builtin[u.Language]; ok {
			return u.Language
		}
	}
	return e.cfg.Languages[0]
}
