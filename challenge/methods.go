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

// usable are the user's methods this server can use over RADIUS, the
// default first, then in the order they were added. TOTP always works;
// a phone takes SMS codes when an SMS provider is configured. Voice-only
// phones and push arrive with their providers.
func (e *Engine) usable(a store.Account) []store.Method {
	var out []store.Method
	for _, m := range a.Methods {
		switch {
		case m.Kind == store.KindTOTP:
		case m.Kind == store.KindPhone && e.sms != nil:
		default:
			continue
		}
		out = append(out, m)
	}
	// Only the first TOTP method is listed: any app's code is accepted.
	seenTOTP := false
	out = slices.DeleteFunc(out, func(m store.Method) bool {
		if m.Kind != store.KindTOTP {
			return false
		}
		dup := seenTOTP
		seenTOTP = true
		return dup
	})
	// The default first: it may be any TOTP app, which all share one line.
	totpDefault := isTOTPDefault(a)
	if i := slices.IndexFunc(out, func(m store.Method) bool {
		return m.ID == a.DefaultMethod || (m.Kind == store.KindTOTP && totpDefault)
	}); i > 0 {
		def := out[i]
		copy(out[1:i+1], out[:i])
		out[0] = def
	}
	return out
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

// start asks for the second factor with method m. opts are the usable
// methods, offered again when m cannot be used right now (SMS limits, a
// provider failure); lead is a message shown before the prompt.
func (e *Engine) start(ctx context.Context, req *Request, c store.Challenge, m store.Method, opts []store.Method, lead []string, now time.Time) Decision {
	switch m.Kind {
	case store.KindTOTP:
		c.Kind, c.MethodID = kindTOTP, ""
		return e.issue(ctx, req, c, append(lead, e.msgs.render(msgTOTPPrompt)...), "challenge_totp", now)
	case store.KindPhone:
		return e.startSMS(ctx, req, c, m, opts, now)
	}
	return e.unavailable(req, "unusable_method", fmt.Errorf("method %s of kind %s cannot be started", m.ID, m.Kind))
}

// startSMS sends a one-time code to the phone and challenges for it.
func (e *Engine) startSMS(ctx context.Context, req *Request, c store.Challenge, m store.Method, opts []store.Method, now time.Time) Decision {
	others := slices.DeleteFunc(slices.Clone(opts), func(o store.Method) bool { return o.ID == m.ID })
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
func (e *Engine) offer(ctx context.Context, req *Request, c store.Challenge, opts []store.Method, lead []string, reason string, now time.Time) Decision {
	if len(opts) == 1 && opts[0].Kind == store.KindTOTP {
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
func (e *Engine) menu(ctx context.Context, req *Request, c store.Challenge, opts []store.Method, lead []string, now time.Time) Decision {
	c.Kind, c.MethodID, c.Secret = kindMenu, "", nil
	c.Options = make([]string, len(opts))
	for i, m := range opts {
		c.Options[i] = m.ID
	}
	return e.issue(ctx, req, c, append(lead, e.menuMessages(msgMenu, c.Options, opts)...), "challenge_menu", now)
}

// menuMessages renders the menu prompt with one line of options, e.g.
// "1: code from app  2: SMS to ••1234".
func (e *Engine) menuMessages(key string, options []string, methods []store.Method) []string {
	out := make([]string, 0, len(e.msgs.langs))
	for _, l := range e.msgs.langs {
		var items []string
		for n, id := range options {
			j := slices.IndexFunc(methods, func(m store.Method) bool { return m.ID == id })
			if j < 0 {
				continue // deleted since: its number stays unused
			}
			items = append(items, fmt.Sprintf("%d: %s", n+1, e.optionLabel(l, methods[j])))
		}
		out = append(out, e.msgs.renderOne(l, key, map[string]string{"menu": strings.Join(items, "  ")}))
	}
	return out
}

func (e *Engine) optionLabel(lang string, m store.Method) string {
	switch m.Kind {
	case store.KindTOTP:
		return e.msgs.renderOne(lang, msgOptionTOTP, nil)
	case store.KindPhone:
		return e.msgs.renderOne(lang, msgOptionSMS, map[string]string{"last4": "••" + lastDigits(m.Phone, 4)})
	}
	return string(m.Kind)
}

// choice returns the method a menu answer selects: its number, if that
// method is still enrolled and usable here (another node may have offered
// it with a provider this one lacks).
func choice(answer string, options []string, methods []store.Method) *store.Method {
	n, err := strconv.Atoi(answer)
	if err != nil || n < 1 || n > len(options) || len(answer) > 2 {
		return nil
	}
	for i := range methods {
		if methods[i].ID == options[n-1] {
			return &methods[i]
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
