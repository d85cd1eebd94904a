package challenge

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"kakunin/store"
)

// splitSuffix splits "password,suffix" at the last comma when the suffix
// is a 6-digit code or a method keyword.
func splitSuffix(pw string) (base, suffix string, ok bool) {
	i := strings.LastIndexByte(pw, ',')
	if i <= 0 {
		return "", "", false
	}
	s := strings.ToLower(strings.TrimSpace(pw[i+1:]))
	switch {
	case isCode(s), s == "sms", s == "push", s == "call":
		return pw[:i], s, true
	}
	return "", "", false
}

// suffixPrefix marks the store key of a password-suffix SMS code. Random
// States are base32 and never contain ':', so the two cannot meet.
const suffixPrefix = "sfx:"

// suffixState is where the SMS code of "password,sms" waits for the
// user's "password,CODE" from the same gateway: there is no State to carry
// it, so the key is the client and the user.
func suffixState(client, user string) string { return suffixPrefix + client + ":" + user }

func isSuffixState(s string) bool { return strings.HasPrefix(s, suffixPrefix) }

// suffixed finishes a login whose password carried a suffix. It never
// challenges: the gateway cannot show a prompt.
func (e *Engine) suffixed(ctx context.Context, req *Request, c store.Challenge, acct store.Account, opts []option, suffix string, now time.Time) Decision {
	switch suffix {
	case "sms":
		return e.suffixSMS(ctx, req, c, opts, now)
	case "push", "call":
		// The gateway cannot show a number to pick: this request is held
		// until the user approves on the phone (no number matching).
		i := slices.IndexFunc(opts, func(o option) bool {
			return (suffix == "push" && o.m.Kind == store.KindPush) || (suffix == "call" && o.voice)
		})
		if i < 0 {
			return Decision{Outcome: Reject, Messages: e.msgs.render(msgSuffixUnsupported), Reason: "suffix_unsupported", Method: suffix}
		}
		if suffix == "call" {
			return e.startCall(ctx, req, c, opts[i], nil, now)
		}
		return e.startPush(ctx, req, c, opts[i], nil, false, now)
	}
	return e.suffixCode(ctx, req, c, acct, suffix, now)
}

// suffixSMS sends a code and rejects with a message to sign in again with
// "password,CODE".
func (e *Engine) suffixSMS(ctx context.Context, req *Request, c store.Challenge, opts []option, now time.Time) Decision {
	i := slices.IndexFunc(opts, func(o option) bool { return o.m.Kind == store.KindPhone && !o.voice })
	if i < 0 {
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgSuffixNoPhone), Reason: "no_phone", Method: kindSMS}
	}
	m := opts[i].m
	ok, err := e.st.ReserveSend(ctx, c.UserID, m.ID, now, e.sendLimits())
	if err != nil {
		return e.unavailable(req, "store_error", err)
	}
	if !ok {
		e.m.smsLimited.Inc()
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgSMSLimited), Reason: "sms_limited", Method: kindSMS}
	}
	code, err := e.sendCode(ctx, c.UserID, m)
	if err != nil {
		return Decision{Outcome: Reject, Messages: e.msgs.render(msgSMSFailed), Reason: "sms_failed", Method: kindSMS}
	}
	c.State = suffixState(req.Client, c.UserID)
	c.Kind, c.MethodID, c.Secret = kindSMS, m.ID, []byte(code)
	c.CreatedAt, c.ExpiresAt = now, now.Add(e.cfg.SMS.CodeTTL)
	// A newer code replaces an older one still waiting.
	if _, err := e.st.TakeChallenge(ctx, c.State, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return e.unavailable(req, "store_error", err)
	}
	if err := e.st.CreateChallenge(ctx, c); err != nil {
		return e.unavailable(req, "store_error", err)
	}
	msgs := e.msgs.renderWith(msgSuffixSMSSent, map[string]string{"phone": MaskPhone(m.Phone)})
	return Decision{Outcome: Reject, Messages: msgs, Reason: "sms_sent", Method: kindSMS}
}

// suffixCode checks "password,CODE": the code of an SMS sent for
// "password,sms" from this gateway, or a code from the user's app.
func (e *Engine) suffixCode(ctx context.Context, req *Request, c store.Challenge, acct store.Account, code string, now time.Time) Decision {
	var smsOK bool
	// Wrong codes are recorded inside the store's transaction, serialised
	// per user, so parallel requests cannot outrun the lockout.
	guess := func(a store.Account) store.Redemption {
		if e.codeLocked(a) {
			return store.Redemption{}
		}
		r := matchAny(a.Methods, code, now)
		r.Fail = true
		return r
	}
	locked := false
	pending, a, fresh, err := e.st.Redeem(ctx, suffixState(req.Client, c.UserID), now, e.accountQuery(now),
		func(p store.Challenge, a store.Account) store.Redemption {
			if e.codeLocked(a) {
				locked = true
				return store.Redemption{}
			}
			if p.Kind == kindSMS && subtle.ConstantTimeCompare(p.Secret, []byte(code)) == 1 {
				smsOK = true
				return store.Redemption{}
			}
			return guess(a)
		})
	if errors.Is(err, store.ErrNotFound) {
		// No SMS code waiting: only the app's code can be meant.
		pending = store.Challenge{}
		a, fresh, err = e.st.Verify(ctx, c.UserID, now, e.accountQuery(now), func(a store.Account) store.Redemption {
			locked = e.codeLocked(a)
			return guess(a)
		})
	}
	if err != nil {
		return e.unavailable(req, "store_error", err)
	}
	acct = a
	if locked {
		return e.reject(msgLocked, "locked")
	}
	switch {
	case smsOK:
		return Decision{Outcome: Accept, Groups: c.Groups, Reason: "ok", Method: kindSMS}
	case fresh:
		return Decision{Outcome: Accept, Groups: c.Groups, Reason: "ok", Method: kindTOTP}
	}
	reason := "bad_code"
	if matchAny(acct.Methods, code, now).MethodID != "" {
		reason = "replayed_code"
	}
	// The wrong code was recorded in the store's transaction.
	if err := e.failed(ctx, c.UserID, store.FailCode, acct.CodeFailures+1, now); err != nil {
		e.log.Warn("audit lockout", "err", err)
	}
	// An SMS code still waiting stays valid for the attempts it has left.
	if pending.UserID != "" && pending.Attempts+1 < e.cfg.AttemptsPerChallenge {
		pending.Attempts++
		if err := e.st.CreateChallenge(ctx, pending); err != nil {
			return e.unavailable(req, "store_error", err)
		}
	}
	return Decision{Outcome: Reject, Messages: e.msgs.render(msgCodeFailed), Reason: reason, Method: "suffix"}
}

// sendLimits are the configured SMS limits.
func (e *Engine) sendLimits() store.SendLimits {
	return store.SendLimits{PerMethod: e.cfg.SMS.PerPhone, PerUser: e.cfg.SMS.PerUserPerHour, PerUserWindow: time.Hour}
}

// sendCode sends a new one-time code to the phone and returns it.
func (e *Engine) sendCode(ctx context.Context, user string, m store.Method) (string, error) {
	code, err := randomCode()
	if err != nil {
		return "", err
	}
	body := e.msgs.renderOne(e.cfg.Languages[0], msgSMSBody, map[string]string{
		"code": code, "minutes": strconv.Itoa(int(e.cfg.SMS.CodeTTL / time.Minute)),
	})
	t := time.Now()
	err = e.sms.SendSMS(ctx, m.Phone, body)
	e.m.providerDuration.WithLabelValues("sms").Observe(time.Since(t).Seconds())
	if err != nil {
		e.m.providerErrors.WithLabelValues("sms").Inc()
		e.log.Error("SMS not sent", "user", user, "method", m.ID, "to", MaskPhone(m.Phone), "err", err)
		return "", err
	}
	return code, nil
}
