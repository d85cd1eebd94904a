package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"kakunin/challenge"
	"kakunin/challenge/webpush"
	"kakunin/configs"
	"kakunin/internal/demodir"
	"kakunin/internal/secret"
	"kakunin/store"
)

// demoUser is enrolled with an authenticator app on the first run, so the
// demo can be tried at once.
const demoUser = 0

// demoPhoneUser has only a phone: SMS code or call.
const demoPhoneUser = 2

// demoPushUser approves on a (console) push app, or takes a call at an
// office phone with an extension.
const demoPushUser = 3

func runDemo(args []string) error {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	data := flags.String("data", "kakunin-demo", "data directory (SQLite store, generated keys and secrets)")
	radiusAddr := flags.String("radius", "127.0.0.1:1812", "RADIUS authentication address")
	acctAddr := flags.String("accounting", "127.0.0.1:1813", "RADIUS accounting address")
	metricsAddr := flags.String("metrics", "127.0.0.1:9812", "metrics and health-check address")
	ldapAddr := flags.String("ldap", "127.0.0.1:0", "address of the embedded demo directory")
	cbAddr := flags.String("callbacks", "127.0.0.1:8081", "address of the approval pages (push and call approvals)")
	portalAddr := flags.String("portal", "127.0.0.1:8080", "enrollment portal address (plain HTTP: keep it on loopback)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	users, err := demodir.Load(configs.DemoUsers)
	if err != nil {
		return fmt.Errorf("demo users: %w", err)
	}
	log := newLogger(logConfig{Format: "text", Level: "info"}, os.Stderr)
	dir, err := demodir.Start(*ldapAddr, users, log.With("component", "demo-directory"))
	if err != nil {
		return fmt.Errorf("start demo directory: %w", err)
	}
	defer dir.Stop()

	radiusSecret, err := persistentSecret(filepath.Join(*data, "radius.secret"), 18)
	if err != nil {
		return err
	}
	if _, err := persistentSecret(filepath.Join(*data, "store.key"), 32); err != nil {
		return err
	}
	if _, err := persistentSecret(filepath.Join(*data, "callback.key"), 32); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*data, "ldap.secret"), []byte(dir.BindPassword()), 0o600); err != nil {
		return err
	}
	abs, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	cfgText := demoConfig(abs, *radiusAddr, *acctAddr, *metricsAddr, *cbAddr, dir) + demoPortal(*portalAddr)
	cfgPath := filepath.Join(abs, "kakunin.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return err
	}
	cfg, err := parseConfig([]byte(cfgText))
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}

	// On the first run, enroll the first demo user with an authenticator
	// app and keep its seed in the data dir, so radtest can answer.
	seedPath := filepath.Join(abs, "demo-totp.secret")
	seedText, err := os.ReadFile(seedPath)
	if errors.Is(err, fs.ErrNotExist) {
		seedText, err = enrollDemoUser(cfg, users[demoUser].ID, seedPath)
		if err == nil {
			err = enrollDemoPhones(cfg, users)
		}
	}
	if err != nil {
		return err
	}
	cfg.Flow.EnrollURL = "http://" + *portalAddr + "/"
	// SMS codes, pushes and calls are printed on this terminal instead of
	// being sent; pushes and calls are answered on the approval page.
	cfg.SMS.Provider, cfg.SMS.demo = "console", true
	cfg.Push.demo = true
	// The portal offers push-capable apps too: a browser on this machine
	// subscribes at its vendor's push service, so those notifications need
	// the internet. The key is kept, so registrations survive a restart.
	if cfg.Push.WebPush, err = demoWebPush(filepath.Join(abs, "vapid.key")); err != nil {
		return err
	}
	cfg.Voice.Provider, cfg.Voice.demo = "console", true
	// The portal's mails (the notification email's code, notifications)
	// are printed on this terminal.
	cfg.demoMail = true

	u, sms, push := users[demoUser], users[demoPhoneUser], users[demoPushUser]
	return serveUntilSignal(cfg, log, 5*time.Second, func(a *app) {
		fmt.Printf(`
kakunin demo is running.
  RADIUS     %s (accounting %s), client 127.0.0.1, shared secret %s
  directory  %s (demo users from configs/demo-users.yaml)
  store      %s
  metrics    http://%s/metrics  (readiness: /readyz)
  portal     http://%s/  (enrollment; e.g. sign in as %s, password %s, who has no method yet)

Sign in as the demo user %s (%s) from another terminal:
  go run ./cmd/kakunin radtest -server %s -secret %s -user %s -password %s -totp-secret %s
Without -totp-secret the first challenge is a menu (app, SMS or call): type 1
and the code from an authenticator app holding the seed %s, 2 and the code of
the demo SMS printed on this terminal, or 3 and answer the demo call on the
page it prints. %s (%s) has only a phone (SMS or call):
  go run ./cmd/kakunin radtest -server %s -secret %s -user %s -password %s
%s (%s) approves on a push app (number matching: pick on the approval page
the number radtest shows, then press Enter) or at an office phone:
  go run ./cmd/kakunin radtest -server %s -secret %s -user %s -password %s
Approval pages: http://%s/v1/approve/... (links printed on this terminal).
The portal's mails (the notification email's code, notifications of changes)
are printed on this terminal too.
Or enroll your own app for another demo user and scan the QR code:
  go run ./cmd/kakunin user add-totp -config %s 2024000002
Help desk view:
  go run ./cmd/kakunin user show -config %s %s
Stop with Ctrl-C.
`, *radiusAddr, *acctAddr, radiusSecret, dir.URL(), cfg.Store.Path, *metricsAddr, *portalAddr, users[demoPortalUser].ID, users[demoPortalUser].Password,
			u.ID, u.Name, *radiusAddr, radiusSecret, u.ID, shellQuote(u.Password), seedText, seedText,
			sms.ID, sms.Name, *radiusAddr, radiusSecret, sms.ID, shellQuote(sms.Password),
			push.ID, push.Name, *radiusAddr, radiusSecret, push.ID, shellQuote(push.Password), *cbAddr,
			cfgPath, cfgPath, u.ID)
	})
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func enrollDemoUser(cfg *config, id, seedPath string) ([]byte, error) {
	var text []byte
	err := withDemoAdmin(cfg, func(ctx context.Context, admin *challenge.Admin) error {
		seed, _, err := challenge.NewTOTPKey(cfg.Flow.Issuer, id)
		if err != nil {
			return err
		}
		if _, _, err := admin.AddTOTP(ctx, id, "demo app", seed, "demo"); err != nil {
			return err
		}
		text = []byte(challenge.EncodeTOTPSecret(seed))
		return os.WriteFile(seedPath, text, 0o600)
	})
	return text, err
}

// enrollDemoPhones gives the first demo user its phone as a second method
// (so its first challenge is a menu), the phone demo user its phone only,
// and the push demo user a push app and an office phone.
func enrollDemoPhones(cfg *config, users []demodir.User) error {
	return withDemoAdmin(cfg, func(ctx context.Context, admin *challenge.Admin) error {
		for _, u := range []demodir.User{users[demoUser], users[demoPhoneUser]} {
			if _, err := admin.AddPhone(ctx, u.ID, store.KindPhone, u.Phone, "", "demo phone", "demo"); err != nil {
				return err
			}
		}
		p := users[demoPushUser].ID
		if _, err := admin.AddPush(ctx, p, "demo phone", challenge.PushRegistration{Channel: "console"}, "demo"); err != nil {
			return err
		}
		_, err := admin.AddPhone(ctx, p, store.KindOfficePhone, "+81 3 0000 0004", "1234", "desk", "demo")
		return err
	})
}

// withDemoAdmin runs f with the help-desk operations on the demo's store.
func withDemoAdmin(cfg *config, f func(context.Context, *challenge.Admin) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, cfg.Store, newLogger(cfg.Log, os.Stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	admin, err := challenge.NewAdmin(cfg.Flow, st)
	if err != nil {
		return err
	}
	return f(ctx, admin)
}

// persistentSecret reads a random secret from path, creating it on first
// use, so the demo keeps its shared secret and store key across runs.
func persistentSecret(path string, n int) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return string(b), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	if n == 32 {
		s = base64.StdEncoding.EncodeToString(b)
	}
	return s, os.WriteFile(path, []byte(s), 0o600)
}

func demoConfig(data, radiusAddr, acctAddr, metricsAddr, cbAddr string, dir *demodir.Directory) string {
	q := func(s string) string { b, _ := yaml.Marshal(s); return string(b[:len(b)-1]) }
	return fmt.Sprintf(`# Written by "kakunin demo"; rewritten at every start.
radius:
  listen: [%s]
  accounting_listen: [%s]
  clients:
    - name: localhost
      addresses: [127.0.0.1, "::1"]
      secret: {file: %s}
      mfa: required
  group_attributes:
    - group: vpn-staff
      attributes:
        - {name: Class, value: staff}
ldap:
  urls: [%s]
  bind_dn: %s
  bind_password: {file: %s}
  base_dn: %s
  required_group: %s
  attributes: {mail: mail, phone: telephoneNumber}
store:
  driver: sqlite
  path: %s
  encryption:
    keys:
      - id: demo
        key: {file: %s}
flow:
  issuer: kakunin demo
  enroll_url: "the help desk (in this demo: kakunin user add-totp)"
metrics:
  listen: %s
callbacks:
  listen: %s
  public_url: %s
  signing_key: {file: %s}
`, q(radiusAddr), q(acctAddr), q(filepath.Join(data, "radius.secret")),
		q(dir.URL()), q(dir.BindDN()), q(filepath.Join(data, "ldap.secret")), q(dir.BaseDN()), q(dir.GroupDN("vpn-staff")),
		q(filepath.Join(data, "kakunin.db")), q(filepath.Join(data, "store.key")), q(metricsAddr),
		q(cbAddr), q("http://"+cbAddr), q(filepath.Join(data, "callback.key")))
}

// demoWebPush is the demo's push.webpush: a VAPID key generated on the
// first run and kept in the data directory.
func demoWebPush(path string) (*webpushConfig, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var priv string
		if priv, _, err = webpush.GenerateVAPID(); err != nil {
			return nil, err
		}
		b, err = []byte(priv), os.WriteFile(path, []byte(priv), 0o600)
	}
	if err != nil {
		return nil, err
	}
	w := &webpushConfig{VAPIDPrivateKey: secret.New(strings.TrimSpace(string(b))), Subject: "mailto:demo@kakunin.invalid"}
	if _, err := webpush.NewVAPID(w.VAPIDPrivateKey.Value(), w.Subject); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}
