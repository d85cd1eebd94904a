package main

import (
	"context"
	"fmt"
	"os"

	"kakunin/challenge"
	"kakunin/challenge/webpush"
	"kakunin/portal"
	"kakunin/portal/mail"
)

// startPortal starts the enrollment portal when portal.listen is set. It
// shares the engine (lockouts, single-use codes), the store and the
// metrics registry with the RADIUS server.
func (a *app) startPortal() error {
	if !a.cfg.Portal.Enabled() {
		return nil
	}
	admin, err := challenge.NewAdmin(a.cfg.Flow, a.store)
	if err != nil {
		return err
	}
	var opts []portal.Option
	if w := a.cfg.Push.WebPush; w != nil {
		// The portal subscribes browsers with the key the engine's
		// webpush channel signs with (validated with the config).
		v, err := webpush.NewVAPID(w.VAPIDPrivateKey.Value(), w.Subject)
		if err != nil {
			return fmt.Errorf("push.webpush: %w", err)
		}
		opts = append(opts, portal.WithWebPush(v, webpush.New(v, nil)))
	}
	// Without portal.smtp the portal offers no notification email and
	// says so; the demo prints its mails here instead.
	switch {
	case a.cfg.Portal.SMTP != nil:
		c, err := mail.New(*a.cfg.Portal.SMTP)
		if err != nil {
			return fmt.Errorf("portal.smtp.%w", err)
		}
		opts = append(opts, portal.WithMailer(c))
	case a.cfg.demoMail:
		opts = append(opts, portal.WithMailer(mail.Console{W: os.Stdout}))
	}
	p, err := portal.New(a.cfg.Portal, a.engine, admin, a.store, a.cfg.Flow.Issuer, a.log.With("component", "portal"), a.reg, opts...)
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	if err := p.Start(); err != nil {
		return err
	}
	a.portal = p
	return nil
}

// stopPortal lets the portal's requests in flight finish up to ctx.
func (a *app) stopPortal(ctx context.Context) {
	if a.portal != nil {
		if err := a.portal.Shutdown(ctx); err != nil {
			a.log.Warn("portal shutdown", "err", err)
		}
	}
}

// demoPortalUser has no method in the demo: the banner suggests signing
// in to the portal as this user to follow the enrollment guide.
const demoPortalUser = 1

// demoPortal is the portal section of the demo's configuration: plain
// HTTP on a loopback address (its cookies are then not Secure, so that a
// browser on this machine keeps them over http://).
func demoPortal(addr string) string {
	return fmt.Sprintf("portal:\n  listen: %q\n", addr)
}
