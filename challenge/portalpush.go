package challenge

import (
	"context"
	"errors"

	"kakunin/store"
)

// Signing in to the portal with an enrolled push app: a notification with
// number matching (always: the portal page shows the number, and a push
// the user did not start cannot be approved blindly), under the per-user
// push cap shared with VPN sign-ins. The portal reads the approval with
// VerificationStatus; a denial, a wrong number or a fraud report fails it
// (a fraud report locks the push and phone methods, as in Decide).

// portalPushTTL is how long a portal sign-in push may take to be
// approved: as long as a verification call (verifyCallTTL), not the held
// VPN request's hold timeout, as here nothing is held: the user reads the
// number on the page, opens the notification on the phone, and comes
// back to the page to press Continue.
const portalPushTTL = verifyCallTTL

// CanPush reports whether push method m can be sent a sign-in
// notification from the portal: its channel is configured here.
func (e *Engine) CanPush(m store.Method) bool {
	return m.Kind == store.KindPush && e.callbacks != nil && e.pushChannel(m) != nil
}

// PushToSignIn sends a number-matching notification to the user's push
// method methodID for a portal sign-in (or step-up) and returns the
// approval to read with VerificationStatus and the number to show. lang
// is the notification's language ("ja" or "en").
func (e *Engine) PushToSignIn(ctx context.Context, user, methodID, lang string) (string, int, error) {
	acct, err := e.st.Account(ctx, user, e.accountQuery(e.now()))
	if err != nil {
		return "", 0, err
	}
	switch {
	case e.codeLocked(acct):
		return "", 0, ErrLocked
	case acct.OutOfBandLocked:
		return "", 0, ErrPhoneLocked
	}
	var m store.Method
	for _, x := range acct.Methods {
		if x.ID == methodID && x.Kind == store.KindPush {
			m = x
		}
	}
	if m.ID == "" {
		return "", 0, store.ErrNotFound
	}
	if !e.CanPush(m) {
		return "", 0, ErrNoProvider
	}
	if lang != "ja" && lang != "en" {
		lang = e.userLanguage(ctx, user)
	}
	number, choices, err := drawNumbers()
	if err != nil {
		return "", 0, err
	}
	now := e.now()
	id := store.NewID()
	a := store.Approval{ID: id, UserID: user, MethodID: m.ID, Kind: kindPush, Key: "portal:" + id,
		Client: "portal", Number: number, Choices: choices, Node: e.node(), CreatedAt: now, ExpiresAt: now.Add(portalPushTTL)}
	ok, err := e.st.CreateApproval(ctx, a, e.cfg.Push.MaxPerUser, now.Add(-e.cfg.Push.Window))
	if err != nil {
		return "", 0, err
	}
	if !ok {
		e.m.pushLimited.Inc()
		e.portalAudit(ctx, user, "push", "reject", "push_limited")
		return "", 0, ErrSendLimited
	}
	body := e.msgs.renderOne(lang, msgPushBodyPortal, map[string]string{"user": user})
	if err := e.sendPushAs(ctx, a, m, lang, body); err != nil {
		e.close(ctx, a, store.ApprovalFailed)
		e.portalAudit(ctx, user, "push", "reject", "push_failed")
		return "", 0, errors.Join(ErrProvider, err)
	}
	e.portalAudit(ctx, user, "push", "accept", "push_sent")
	return id, a.Number, nil
}
