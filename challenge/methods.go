package challenge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"kakunin/store"
)

// Challenge kinds, as stored in store.Challenge.Kind.
const (
	kindTOTP = "totp"
	kindSMS  = "sms"
	kindMenu = "menu"
)

func methodName(kind string) string {
	if kind == "" {
		return kindTOTP
	}
	return kind
}

// option is one way to confirm a sign-in: a method, and for a phone that
// takes both, whether it is called rather than sent an SMS.
type option struct {
	m     store.Method
	voice bool
}

// id is the option's menu key: the method ID, prefixed for a call to a
// phone that also takes SMS codes.
func (o option) id() string {
	if o.voice && o.m.Kind == store.KindPhone {
		return "call:" + o.m.ID
	}
	return o.m.ID
}

// usable are the ways this server can confirm the user's sign-in over
// RADIUS, the default method first, then in the order they were added.
// TOTP always works; a phone takes SMS codes when an SMS provider is
// configured and calls when a voice provider is; alternate and office
// phones take calls only; a push method needs its channel. After a fraud
// report, push and phones are locked until the help desk unlocks them.
func (e *Engine) usable(a store.Account) []option {
	var out []option
	seenTOTP := false
	for _, m := range a.Methods {
		switch m.Kind {
		case store.KindTOTP:
			// Only the first TOTP method is listed: any app's code is accepted.
			if !seenTOTP {
				out = append(out, option{m: m})
			}
			seenTOTP = true
		case store.KindPhone:
			if a.OutOfBandLocked {
				continue
			}
			if e.sms != nil {
				out = append(out, option{m: m})
			}
			if e.caller != nil {
				out = append(out, option{m: m, voice: true})
			}
		case store.KindAlternatePhone, store.KindOfficePhone:
			if !a.OutOfBandLocked && e.caller != nil {
				out = append(out, option{m: m, voice: true})
			}
		case store.KindPush:
			if !a.OutOfBandLocked && e.pushChannel(m) != nil {
				out = append(out, option{m: m})
			}
		}
	}
	// The default first (any TOTP app's default moves the shared line;
	// a phone's SMS and call lines move together, in that order).
	totpDefault := isTOTPDefault(a)
	isDefault := func(o option) bool {
		return o.m.ID == a.DefaultMethod || (o.m.Kind == store.KindTOTP && totpDefault)
	}
	def := slices.DeleteFunc(slices.Clone(out), func(o option) bool { return !isDefault(o) })
	rest := slices.DeleteFunc(out, isDefault)
	return append(def, rest...)
}

// isTOTPDefault: the default method is one of the user's TOTP apps (which
// all share one menu line).
func isTOTPDefault(a store.Account) bool {
	for _, m := range a.Methods {
		if m.ID == a.DefaultMethod {
			return m.Kind == store.KindTOTP
		}
	}
	return false
}

// start asks for the second factor with option o. opts are the usable
// options, offered again when o cannot be used right now (send limits, a
// provider failure); lead is a message shown before the prompt.
func (e *Engine) start(ctx context.Context, req *Request, c store.Challenge, o option, opts []option, lead []string, now time.Time) Decision {
	switch {
	case o.m.Kind == store.KindTOTP:
		c.Kind, c.MethodID = kindTOTP, ""
		return e.issue(ctx, req, c, append(lead, e.msgs.render(msgTOTPPrompt)...), "challenge_totp", now)
	case o.voice:
		return e.startCall(ctx, req, c, o, opts, now)
	case o.m.Kind == store.KindPhone:
		return e.startSMS(ctx, req, c, o, opts, now)
	case o.m.Kind == store.KindPush:
		return e.startPush(ctx, req, c, o, opts, *e.cfg.Push.NumberMatching, now)
	}
	return e.unavailable(req, "unusable_method", fmt.Errorf("method %s of kind %s cannot be started", o.m.ID, o.m.Kind))
}

// without returns opts less o.
func without(opts []option, o option) []option {
	return slices.DeleteFunc(slices.Clone(opts), func(x option) bool { return x.id() == o.id() })
}

// startSMS sends a one-time code to the phone and challenges for it.
func (e *Engine) startSMS(ctx context.Context, req *Request, c store.Challenge, o option, opts []option, now time.Time) Decision {
	m, others := o.m, without(opts, o)
	ok, err := e.st.ReserveSend(ctx, c.UserID, m.ID, now, e.sendLimits())
	if err != nil {
		return e.unavailable(req, "store_error", err)
	}
	if !ok {
		e.m.smsLimited.Inc()
		if len(others) > 0 {
			return e.offer(ctx, req, c, others, e.msgs.render(msgSMSLimited), "sms_limited", now)
		}
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgSMSLimited), Reason: "sms_limited", Method: kindSMS}
	}
	code, err := e.sendCode(ctx, c.UserID, m)
	if err != nil {
		// The user is told and may pick another method; nothing is accepted.
		if len(others) > 0 {
			return e.offer(ctx, req, c, others, e.msgs.render(msgSMSFailed), "sms_failed", now)
		}
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgSMSFailed), Reason: "sms_failed", Method: kindSMS}
	}
	c.Kind, c.MethodID, c.Secret = kindSMS, m.ID, []byte(code)
	c.ExpiresAt = now.Add(e.cfg.SMS.CodeTTL)
	prompt := e.msgs.renderWith(msgSMSPrompt, map[string]string{"phone": MaskPhone(m.Phone)})
	return e.issue(ctx, req, c, prompt, "challenge_sms", now)
}

// offer continues with opts: the only one directly, several as a menu.
func (e *Engine) offer(ctx context.Context, req *Request, c store.Challenge, opts []option, lead []string, reason string, now time.Time) Decision {
	if len(opts) == 1 && opts[0].m.Kind == store.KindTOTP {
		d := e.start(ctx, req, c, opts[0], opts, lead, now)
		if d.Outcome == Challenge {
			d.Reason = reason
		}
		return d
	}
	d := e.menu(ctx, req, c, opts, lead, now)
	d.Reason = reason
	return d
}

// menu offers a numbered choice of methods, the default first.
func (e *Engine) menu(ctx context.Context, req *Request, c store.Challenge, opts []option, lead []string, now time.Time) Decision {
	c.Kind, c.MethodID, c.Secret = kindMenu, "", nil
	c.Options = make([]string, len(opts))
	for i, o := range opts {
		c.Options[i] = o.id()
	}
	key := msgMenuNoApp // "enter the number": no app whose code could be typed instead
	if slices.ContainsFunc(opts, func(o option) bool { return o.m.Kind == store.KindTOTP }) {
		key = msgMenu
	}
	return e.issue(ctx, req, c, append(lead, e.menuMessages(key, c.Options, opts)...), "challenge_menu", now)
}

// menuMessages renders the menu prompt with one line of options, e.g.
// "1: code from app  2: SMS to ••1234  3: call ••1234".
func (e *Engine) menuMessages(key string, options []string, usable []option) []string {
	out := make([]string, 0, len(e.msgs.langs))
	for _, l := range e.msgs.langs {
		var items []string
		for n, id := range options {
			j := slices.IndexFunc(usable, func(o option) bool { return o.id() == id })
			if j < 0 {
				continue // deleted since: its number stays unused
			}
			items = append(items, fmt.Sprintf("%d: %s", n+1, e.optionLabel(l, usable[j])))
		}
		out = append(out, e.msgs.renderOne(l, key, map[string]string{"menu": strings.Join(items, "  ")}))
	}
	return out
}

func (e *Engine) optionLabel(lang string, o option) string {
	switch {
	case o.m.Kind == store.KindTOTP:
		return e.msgs.renderOne(lang, msgOptionTOTP, nil)
	case o.voice:
		return e.msgs.renderOne(lang, msgOptionCall, map[string]string{"last4": "••" + lastDigits(o.m.Phone, 4)})
	case o.m.Kind == store.KindPhone:
		return e.msgs.renderOne(lang, msgOptionSMS, map[string]string{"last4": "••" + lastDigits(o.m.Phone, 4)})
	case o.m.Kind == store.KindPush:
		return e.msgs.renderOne(lang, msgOptionPush, map[string]string{"label": pushLabel(lang, o.m)})
	}
	return string(o.m.Kind)
}

// choice returns the option a menu answer selects: its number, if that
// option is still enrolled and usable here (another node may have offered
// it with a provider this one lacks).
func choice(answer string, options []string, usable []option) *option {
	n, err := strconv.Atoi(answer)
	if err != nil || n < 1 || n > len(options) || len(answer) > 2 {
		return nil
	}
	for i := range usable {
		if usable[i].id() == options[n-1] {
			return &usable[i]
		}
	}
	return nil
}

// matchAny finds the TOTP method (any of the user's apps) whose code this
// is, and its time step.
func matchAny(methods []store.Method, code string, now time.Time) store.Redemption {
	for _, m := range methods {
		if m.Kind != store.KindTOTP {
			continue
		}
		if step, ok := matchTOTP(m.Secret, code, now); ok {
			return store.Redemption{MethodID: m.ID, Step: step}
		}
	}
	return store.Redemption{}
}

func isCode(s string) bool {
	if len(s) != totpDigits {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// randomCode is a uniformly random 6-digit code.
func randomCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// ErrBadPhone is returned for a phone number that is not E.164.
var ErrBadPhone = errors.New("not a phone number in international format (e.g. +81 90 1234 5678)")

// NormalizePhone turns a number as people type it ("+81 90-1234-5678")
// into E.164 ("+819012345678").
func NormalizePhone(s string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return "", ErrBadPhone
		}
	}
	p := b.String()
	if !strings.HasPrefix(p, "+") || len(p) < 9 || len(p) > 16 || p[1] == '0' {
		return "", ErrBadPhone
	}
	return p, nil
}
