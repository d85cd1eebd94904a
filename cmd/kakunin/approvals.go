package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/callback"
	"kakunin/challenge/console"
	"kakunin/challenge/twilio"
	"kakunin/challenge/webhook"
	"kakunin/challenge/webpush"
	"kakunin/internal/secret"
)

// pushConfig is the "push" section: the channels push methods can use.
//
//	push:
//	  webpush:                     # to the portal installed on the phone
//	    vapid_private_key: {file: /etc/kakunin/vapid.key}
//	    subject: mailto:vpn-admin@example.ac.jp
//	  webhook:                     # an organisation's own push gateway
//	    url: https://push-gw.example.ac.jp/push
//	    secret: {file: /etc/kakunin/push-gw.secret}
type pushConfig struct {
	WebPush *webpushConfig  `yaml:"webpush"`
	Webhook *webhook.Config `yaml:"webhook"`
	demo    bool            // kakunin demo: the console channel
}

type webpushConfig struct {
	VAPIDPrivateKey secret.Secret `yaml:"vapid_private_key"`
	Subject         string        `yaml:"subject"`
}

// voiceConfig is the "voice" section: who places approval calls.
//
//	voice:
//	  provider: twilio
//	  twilio: {account_sid: AC…, auth_token: {file: …}, from: "+815012345678"}
//	  # or an organisation's own telephony gateway:
//	  # provider: webhook
//	  # webhook: {url: https://tel-gw.example.ac.jp/call, secret: {file: …}}
type voiceConfig struct {
	Provider string          `yaml:"provider"` // twilio or webhook; empty for none
	Twilio   twilio.Config   `yaml:"twilio"`
	Webhook  *webhook.Config `yaml:"webhook"`
	demo     bool
}

func (p *pushConfig) enabled() bool  { return p.WebPush != nil || p.Webhook != nil || p.demo }
func (v *voiceConfig) enabled() bool { return v.Provider != "" }

func (c *config) validateApprovals() []string {
	var problems []string
	add := func(prefix string, err error) {
		if err != nil {
			for _, l := range splitLines(err.Error()) {
				problems = append(problems, prefix+l)
			}
		}
	}
	if c.Push.Webhook != nil {
		c.Push.Webhook.SetDefaults()
		add("push.webhook.", c.Push.Webhook.Validate())
	}
	if w := c.Push.WebPush; w != nil {
		if _, err := webpush.NewVAPID(w.VAPIDPrivateKey.Value(), w.Subject); err != nil {
			problems = append(problems, "push.webpush: "+err.Error()+" (generate keys with: kakunin vapid-keys)")
		}
	}
	switch c.Voice.Provider {
	case "":
	case "twilio":
		c.Voice.Twilio.SetDefaults()
		add("voice.twilio.", c.Voice.Twilio.Validate())
		if c.Voice.Twilio.From == "" {
			problems = append(problems, "voice.twilio.from: required: calls need a Twilio number (a messaging service sends SMS only)")
		}
	case "webhook":
		if c.Voice.Webhook == nil {
			problems = append(problems, "voice.webhook: required with provider webhook (url, secret)")
		} else {
			c.Voice.Webhook.SetDefaults()
			add("voice.webhook.", c.Voice.Webhook.Validate())
		}
	case "console":
		if !c.Voice.demo {
			problems = append(problems, `voice.provider: "console" is for kakunin demo only`)
		}
	default:
		problems = append(problems, fmt.Sprintf("voice.provider: %q is not twilio or webhook", c.Voice.Provider))
	}
	if c.Push.enabled() || c.Voice.enabled() {
		if !c.Callbacks.Enabled() {
			problems = append(problems, "callbacks: required when push or voice is configured: phones and providers answer approvals there")
		} else {
			add("callbacks.", c.Callbacks.Validate())
		}
	}
	if c.Flow.Hold.Timeout >= c.Radius.RequestTimeout {
		problems = append(problems, fmt.Sprintf("flow.hold.timeout: %s must be shorter than radius.request_timeout (%s)",
			c.Flow.Hold.Timeout, c.Radius.RequestTimeout))
	}
	return problems
}

// holdWarnings are what check-config and serve warn about held requests
// for a serve run with this -shutdown-grace: a hold that outlives the
// grace is cut short at every restart (answered "try again", reason
// shutdown), so users at the phone lose their sign-in.
func (c *config) holdWarnings(grace time.Duration) []string {
	if !c.Push.enabled() && !c.Voice.enabled() {
		return nil
	}
	if c.Flow.Hold.Timeout > grace {
		return []string{fmt.Sprintf("flow.hold.timeout: %s is longer than -shutdown-grace (%s): at SIGTERM, requests still held when the grace ends are answered with a reject asking the user to try again; give serve a -shutdown-grace of at least the hold timeout (and the service unit's TimeoutStopSec 10s more)",
			c.Flow.Hold.Timeout, grace)}
	}
	return nil
}

// approvals builds the push channels, the caller and the callback handler.
// The handler needs the engine, so it is returned as a function of it.
func (c *config) approvals() ([]challenge.Option, func(*challenge.Engine, *slog.Logger) (http.Handler, error), error) {
	if !c.Push.enabled() && !c.Voice.enabled() {
		return nil, nil, nil
	}
	signer := callback.NewSigner(c.Callbacks.PublicURL, []byte(c.Callbacks.SigningKey.Value()))
	opts := []challenge.Option{challenge.WithCallbacks(signer)}
	var cbOpts callback.Options
	if w := c.Push.WebPush; w != nil {
		v, err := webpush.NewVAPID(w.VAPIDPrivateKey.Value(), w.Subject)
		if err != nil {
			return nil, nil, fmt.Errorf("push.webpush: %w", err)
		}
		opts = append(opts, challenge.WithPush("webpush", webpush.New(v, nil)))
	}
	if c.Push.Webhook != nil {
		wc, err := webhook.New(*c.Push.Webhook, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("push.webhook: %w", err)
		}
		opts = append(opts, challenge.WithPush("webhook", wc))
		cbOpts.PushGatewaySecret = c.Push.Webhook.Secret.Value()
	}
	con := console.New(os.Stdout)
	if c.Push.demo {
		opts = append(opts, challenge.WithPush("console", con))
	}
	switch c.Voice.Provider {
	case "twilio":
		tc, err := twilio.New(c.Voice.Twilio, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("voice.twilio: %w", err)
		}
		opts = append(opts, challenge.WithCaller(twilio.Caller{Client: tc}))
		cbOpts.TwilioAuthToken = c.Voice.Twilio.AuthToken.Value()
	case "webhook":
		wc, err := webhook.New(*c.Voice.Webhook, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("voice.webhook: %w", err)
		}
		opts = append(opts, challenge.WithCaller(webhook.Caller{Client: wc}))
		cbOpts.CallGatewaySecret = c.Voice.Webhook.Secret.Value()
	case "console":
		opts = append(opts, challenge.WithCaller(con))
	}
	handler := func(e *challenge.Engine, log *slog.Logger) (http.Handler, error) {
		return callback.New(e, signer, cbOpts, log)
	}
	return opts, handler, nil
}

// listenCallbacks starts the callback listener.
func (a *app) listenCallbacks(h http.Handler) error {
	ln, err := net.Listen("tcp", a.cfg.Callbacks.Listen)
	if err != nil {
		return fmt.Errorf("callbacks.listen: %w", err)
	}
	// ErrorLog: what net/http reports (a handler's panic, a failed TLS
	// handshake) belongs in kakunin's log, not on a bare stderr.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(a.log.With("component", "callbacks").Handler(), slog.LevelWarn)}
	if cf, kf := a.cfg.Callbacks.TLSCertFile, a.cfg.Callbacks.TLSKeyFile; cf != "" {
		cert, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			ln.Close()
			return fmt.Errorf("callbacks.tls_cert_file: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	a.cbServer, a.cbLn = srv, ln
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("callback listener stopped", "err", err)
		}
	}()
	a.log.Info("serving approval callbacks", "addr", ln.Addr().String(), "public_url", a.cfg.Callbacks.PublicURL)
	return nil
}

// runVAPIDKeys prints a new VAPID key pair: the private key goes into
// push.webpush.vapid_private_key (a file readable by kakunin only), the
// public key is what the portal gives browsers as applicationServerKey.
func runVAPIDKeys(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("vapid-keys takes no arguments")
	}
	priv, pub, err := webpush.GenerateVAPID()
	if err != nil {
		return err
	}
	fmt.Printf("private key (keep secret; push.webpush.vapid_private_key): %s\npublic key (applicationServerKey): %s\n", priv, pub)
	return nil
}
