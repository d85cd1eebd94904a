package challenge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"kakunin/store"
)

// The enrollment portal verifies a phone number before it saves it: a code
// by SMS, or a call answered with '#'. The number is not a method yet, so
// the sends are reserved under a pseudo method ID derived from the user
// and the number: the per-phone and per-user limits of sign-in codes hold
// for these too.

// Outcomes of sending to a phone from the portal.
var (
	// ErrSendLimited: the per-phone or per-user limit of codes and calls
	// was reached; the user tries again later.
	ErrSendLimited = errors.New("too many codes or calls sent: try again later")
	// ErrNoProvider: no SMS sender (or no caller) is configured.
	ErrNoProvider = errors.New("no SMS or voice provider configured")
	// ErrProvider: the provider did not accept the message or the call.
	ErrProvider = errors.New("the SMS or voice provider failed")
)

// verifyCallTTL is how long a verification call may take to be answered
// and approved: longer than a held sign-in, as the user reads the page,
// waits for the phone to ring and comes back to the page.
const verifyCallTTL = 3 * time.Minute

// CanSMS reports whether codes can be sent by SMS.
func (e *Engine) CanSMS() bool { return e.sms != nil }

// CanCall reports whether approval calls can be placed.
func (e *Engine) CanCall() bool { return e.caller != nil && e.callbacks != nil }

// PhoneMethodID is the pseudo method ID under which sends to a number not
// (yet) saved for user are counted: the same user and number give the
// same ID on every node.
func PhoneMethodID(user, phone string) string {
	h := sha256.Sum256([]byte("kakunin/verify-phone\x00" + user + "\x00" + phone))
	return "v-" + base64.RawURLEncoding.EncodeToString(h[:18])
}

// PhoneCode is a code sent by SMS from the portal; the caller keeps it
// server-side (sealed in the portal session) and compares it with
// CodeMatches.
type PhoneCode struct {
	Code    string
	Expires time.Time
}

// SendVerificationCode sends a 6-digit code by SMS to phone (E.164) for
// user, under the sign-in codes' send limits. The code is never logged.
func (e *Engine) SendVerificationCode(ctx context.Context, user, phone string) (PhoneCode, error) {
	if e.sms == nil {
		return PhoneCode{}, ErrNoProvider
	}
	now := e.now()
	m := store.Method{ID: PhoneMethodID(user, phone), UserID: user, Kind: store.KindPhone, Phone: phone}
	ok, err := e.st.ReserveSend(ctx, user, m.ID, now, e.sendLimits())
	if err != nil {
		return PhoneCode{}, err
	}
	if !ok {
		e.m.smsLimited.Inc()
		e.portalAudit(ctx, user, "phone_code", "reject", "sms_limited")
		return PhoneCode{}, ErrSendLimited
	}
	code, err := e.sendCode(ctx, user, m)
	if err != nil {
		e.portalAudit(ctx, user, "phone_code", "reject", "sms_failed")
		return PhoneCode{}, errors.Join(ErrProvider, err)
	}
	e.portalAudit(ctx, user, "phone_code", "accept", "sms_sent")
	return PhoneCode{Code: code, Expires: now.Add(e.cfg.SMS.CodeTTL)}, nil
}

// CodeMatches compares a code typed by the user with one sent, in
// constant time; an expired code matches nothing.
func (e *Engine) CodeMatches(sent PhoneCode, typed string) bool {
	if sent.Code == "" || !e.now().Before(sent.Expires) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(sent.Code), []byte(typed)) == 1
}

// CallToVerify calls phone (E.164; extension dialled after the main
// number answers) for user, under the send limits, and returns the ID of
// the approval the call decides: '#' approves. The portal reads it with
// VerificationStatus. lang is the call's language ("ja" or "en").
func (e *Engine) CallToVerify(ctx context.Context, user, phone, extension, lang string) (string, error) {
	if !e.CanCall() {
		return "", ErrNoProvider
	}
	if lang != "ja" && lang != "en" {
		lang = e.cfg.Languages[0]
	}
	return e.placeCall(ctx, user, PhoneMethodID(user, phone+";ext="+extension), phone, extension, lang, verifyPrompt[lang])
}

// placeCall reserves a send to methodID and calls phone for a portal
// approval.
func (e *Engine) placeCall(ctx context.Context, user, methodID, phone, extension, lang, prompt string) (string, error) {
	now := e.now()
	ok, err := e.st.ReserveSend(ctx, user, methodID, now, e.sendLimits())
	if err != nil {
		return "", err
	}
	if !ok {
		e.m.smsLimited.Inc()
		e.portalAudit(ctx, user, "phone_call", "reject", "call_limited")
		return "", ErrSendLimited
	}
	id := store.NewID()
	a := store.Approval{ID: id, UserID: user, MethodID: methodID, Kind: kindCall, Key: "portal:" + id,
		Client: "portal", Node: e.node(), CreatedAt: now, ExpiresAt: now.Add(verifyCallTTL)}
	if _, err := e.st.CreateApproval(ctx, a, 0, time.Time{}); err != nil {
		return "", err
	}
	r := CallRequest{
		ApprovalID: id,
		To:         phone,
		Extension:  extension,
		Language:   lang,
		Prompt:     prompt,
		GatherURL:  e.callbacks.URL(CallbackGather, id, a.ExpiresAt),
		StatusURL:  e.callbacks.URL(CallbackStatus, id, a.ExpiresAt),
		ApproveURL: e.callbacks.URL(CallbackApprove, id, a.ExpiresAt),
		// The same signed decision endpoint as a push gateway's.
		DecisionURL: e.callbacks.URL(CallbackPush, id, a.ExpiresAt),
		Expires:     a.ExpiresAt,
	}
	t := time.Now()
	err = e.caller.Call(ctx, r)
	e.m.providerDuration.WithLabelValues("voice").Observe(time.Since(t).Seconds())
	if err != nil {
		e.m.providerErrors.WithLabelValues("voice").Inc()
		e.log.Error("portal call not placed", "user", user, "to", MaskPhone(phone), "err", err)
		e.close(ctx, a, store.ApprovalFailed)
		e.portalAudit(ctx, user, "phone_call", "reject", "call_failed")
		return "", errors.Join(ErrProvider, err)
	}
	e.portalAudit(ctx, user, "phone_call", "accept", "call_placed")
	return id, nil
}

var verifyPrompt = map[string]string{
	"en": "This is the university VPN. Someone is registering this phone number for sign-in. If it is you, press the pound key. If not, press zero.",
	"ja": "大学のVPNです。この電話番号をサインイン方法として登録しようとしています。ご本人の場合はシャープを押してください。心当たりがない場合はゼロを押してください。",
}

// CallStatus is where a verification call stands.
type CallStatus int

const (
	CallPending  CallStatus = iota // not answered yet
	CallApproved                   // '#' was pressed
	CallFailed                     // denied, reported, not answered in time, or the call failed
)

// VerificationStatus reads the call CallToVerify placed for user.
func (e *Engine) VerificationStatus(ctx context.Context, user, approvalID string) (CallStatus, error) {
	a, err := e.st.GetApproval(ctx, approvalID)
	if errors.Is(err, store.ErrNotFound) {
		return CallFailed, nil
	}
	if err != nil {
		return CallFailed, err
	}
	switch {
	case a.UserID != user || a.Client != "portal":
		return CallFailed, nil
	case a.Status == store.ApprovalApproved:
		return CallApproved, nil
	case a.Status == store.ApprovalPending && e.now().Before(a.ExpiresAt):
		return CallPending, nil
	}
	return CallFailed, nil
}

// Signing in to the portal with an enrolled phone: the code or call goes
// to the stored number under the method's own send limits; a wrong code
// counts towards the shared code lockout, as over RADIUS; a fraud report
// ('0' in a call) locks the phones as it does there.

// ErrPhoneLocked: a fraud report locked the user's phones until the help
// desk unlocks them.
var ErrPhoneLocked = errors.New("phone methods locked after a fraud report")

// signInPhone finds the user's enrolled phone methodID, usable by SMS
// (kind phone) or by call (any phone kind).
func (e *Engine) signInPhone(ctx context.Context, user, methodID string, call bool) (store.Method, error) {
	acct, err := e.st.Account(ctx, user, e.accountQuery(e.now()))
	if err != nil {
		return store.Method{}, err
	}
	switch {
	case e.codeLocked(acct):
		return store.Method{}, ErrLocked
	case acct.OutOfBandLocked:
		return store.Method{}, ErrPhoneLocked
	}
	for _, m := range acct.Methods {
		if m.ID != methodID {
			continue
		}
		if m.Kind == store.KindPhone || (call && (m.Kind == store.KindAlternatePhone || m.Kind == store.KindOfficePhone)) {
			return m, nil
		}
	}
	return store.Method{}, store.ErrNotFound
}

// SendSignInCode sends a sign-in code by SMS to the user's phone methodID.
func (e *Engine) SendSignInCode(ctx context.Context, user, methodID string) (PhoneCode, error) {
	if e.sms == nil {
		return PhoneCode{}, ErrNoProvider
	}
	m, err := e.signInPhone(ctx, user, methodID, false)
	if err != nil {
		return PhoneCode{}, err
	}
	now := e.now()
	ok, err := e.st.ReserveSend(ctx, user, m.ID, now, e.sendLimits())
	if err != nil {
		return PhoneCode{}, err
	}
	if !ok {
		e.m.smsLimited.Inc()
		e.portalAudit(ctx, user, "phone_code", "reject", "sms_limited")
		return PhoneCode{}, ErrSendLimited
	}
	code, err := e.sendCode(ctx, user, m)
	if err != nil {
		e.portalAudit(ctx, user, "phone_code", "reject", "sms_failed")
		return PhoneCode{}, errors.Join(ErrProvider, err)
	}
	e.portalAudit(ctx, user, "phone_code", "accept", "sms_sent")
	return PhoneCode{Code: code, Expires: now.Add(e.cfg.SMS.CodeTTL)}, nil
}

// CallToSignIn calls the user's phone methodID for a portal sign-in; the
// portal reads the approval with VerificationStatus.
func (e *Engine) CallToSignIn(ctx context.Context, user, methodID, lang string) (string, error) {
	if !e.CanCall() {
		return "", ErrNoProvider
	}
	m, err := e.signInPhone(ctx, user, methodID, true)
	if err != nil {
		return "", err
	}
	if lang != "ja" && lang != "en" {
		lang = e.cfg.Languages[0]
	}
	return e.placeCall(ctx, user, m.ID, m.Phone, m.Extension, lang, e.msgs.renderOne(lang, msgCallSpoken, nil))
}

// CheckSignInCode checks a code sent by SendSignInCode. A wrong or expired
// code is a failure towards the user's code lockout, recorded in the
// store's serialised transaction; ErrLocked when the user is paused.
func (e *Engine) CheckSignInCode(ctx context.Context, user string, sent PhoneCode, typed string) (bool, error) {
	typed = strings.TrimSpace(typed)
	if !isCode(typed) {
		return false, nil // a typo guesses nothing
	}
	now := e.now()
	locked, ok := false, false
	acct, _, err := e.st.Verify(ctx, user, now, e.accountQuery(now), func(a store.Account) store.Redemption {
		if e.codeLocked(a) {
			locked = true
			return store.Redemption{}
		}
		if e.CodeMatches(sent, typed) {
			ok = true
			return store.Redemption{}
		}
		return store.Redemption{Fail: true}
	})
	switch {
	case err != nil:
		return false, err
	case locked:
		e.portalAudit(ctx, user, "verify_code", "reject", "locked")
		return false, ErrLocked
	case ok:
		e.portalAudit(ctx, user, "verify_code", "accept", "ok_sms")
		return true, nil
	}
	if err := e.failed(ctx, user, store.FailCode, acct.CodeFailures+1, now); err != nil {
		e.log.Warn("audit lockout", "err", err)
	}
	e.portalAudit(ctx, user, "verify_code", "reject", "bad_code")
	return false, nil
}
