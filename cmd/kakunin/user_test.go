package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"kakunin/challenge"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// testSeedB32 is a 160-bit base32 seed.
const testSeedB32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func TestAddTOTPReadsTheSecretFromAFileOrStdinNotTheCommandLine(t *testing.T) {
	want, err := challenge.ParseTOTPSecret(testSeedB32)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	file := func(content string) string {
		t.Helper()
		n++
		p := filepath.Join(dir, fmt.Sprintf("seed-%d", n))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name  string
		path  string
		stdin string
	}{
		{"file", file(testSeedB32 + "\n"), ""},
		{"file without newline", file(testSeedB32), ""},
		{"file with CRLF, spaced, lower case", file("jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp\r\n"), ""},
		{"stdin", "-", testSeedB32 + "\nthe rest is not read\n"},
		{"stdin without newline", "-", "  " + testSeedB32 + "  "},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := readTOTPSecret(c.path, strings.NewReader(c.stdin))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("seed %x, want %x", got, want)
			}
		})
	}

	for _, c := range []struct {
		name  string
		path  string
		stdin io.Reader
		want  string
	}{
		{"missing file", filepath.Join(dir, "nonexistent"), nil, "no such file"},
		{"empty file", file(""), nil, "empty secret"},
		{"two lines", file(testSeedB32 + "\n" + testSeedB32 + "\n"), nil, "one line"},
		{"huge file", file(strings.Repeat("A", 5000)), nil, "too long"},
		{"not base32", file("not base32!\n"), nil, "secret is not base32"},
		{"too short", file("JBSWY3DP\n"), nil, "at least 80 are needed"},
		{"empty stdin", "-", strings.NewReader(""), "no secret"},
		{"blank line on stdin", "-", strings.NewReader("\n" + testSeedB32 + "\n"), "empty secret"},
		{"huge stdin", "-", strings.NewReader(strings.Repeat("A", 5000)), "too long"},
		{"stdin error", "-", iotest.ErrReader(errors.New("boom")), "boom"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readTOTPSecret(c.path, c.stdin)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "JBSWY3DP") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestAddTOTPHasNoSecretFlag(t *testing.T) {
	err := runUser([]string{"add-totp", "-secret", testSeedB32, "0000000001"})
	if err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -secret") {
		t.Errorf("err = %v, want the -secret flag refused", err)
	}
	if !strings.Contains(userUsage, "-secret-file PATH") || strings.Contains(userUsage, "-secret BASE32") {
		t.Errorf("usage does not document -secret-file:\n%s", userUsage)
	}
}

// TestHelpDeskSeesAndLiftsAFraudLock: after a fraud report the help desk
// sees the lock in "user show" and lifts it with "user unlock"; a push
// app for the organisation's gateway is enrolled with "user add-push".
func TestHelpDeskSeesAndLiftsAFraudLock(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "kakunin.yaml", fmt.Sprintf(`radius:
  clients: [{name: gw, addresses: [127.0.0.1], secret: "a-long-enough-shared-secret"}]
ldap:
  urls: [ldap://127.0.0.1:1]
  bind_dn: cn=svc
  bind_password: pw
  base_dn: dc=example
%s
`, sqliteStore(dir, newStoreKey(t))))
	user := "2024000031"
	if err := runUser([]string{"add-push", "-config", cfgPath, "-label", "Pixel", user, "device-31"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.Store, newLogger(cfg.Log, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := st.Methods(ctx, user)
	if err != nil || len(ms) != 1 || ms[0].Kind != store.KindPush || !strings.Contains(string(ms[0].Secret), "device-31") {
		t.Fatalf("methods after add-push: %+v, %v", ms, err)
	}
	if err := st.SetOutOfBandLock(ctx, user, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	admin, _ := challenge.NewAdmin(cfg.Flow, st)
	status, err := admin.Show(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printStatus(&out, status)
	if !strings.Contains(out.String(), "LOCKED since") || !strings.Contains(out.String(), "push") {
		t.Errorf("user show:\n%s", out.String())
	}
	st.Close()
	if err := runUser([]string{"unlock", "-config", cfgPath, user}); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(ctx, cfg.Store, newLogger(cfg.Log, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if a, _ := st.Account(ctx, user, store.AccountQuery{}); a.OutOfBandLocked {
		t.Error("still locked after user unlock")
	}
}

// TestHelpDeskChangesAreMailed: with portal.smtp, a change the help desk
// makes is mailed to the user's notification email in the user's
// language; a reset, which deletes the email too, still tells it.
func TestHelpDeskChangesAreMailed(t *testing.T) {
	smtp := testenv.NewSMTPServer(t, testenv.SMTPOptions{})
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "kakunin.yaml", fmt.Sprintf(`radius:
  clients: [{name: gw, addresses: [127.0.0.1], secret: "a-long-enough-shared-secret"}]
ldap:
  urls: [ldap://127.0.0.1:1]
  bind_dn: cn=svc
  bind_password: pw
  base_dn: dc=example
%s
portal:
  listen: 127.0.0.1:0
  smtp: {host: %s, port: %d, from: mfa@example.ac.jp, ca_file: %s}
`, sqliteStore(dir, newStoreKey(t)), smtp.Host, smtp.Port, smtp.CAFile))
	user := "2024000032"
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.Store, newLogger(cfg.Log, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := challenge.NewAdmin(cfg.Flow, st)
	if _, _, err := admin.SetEmail(ctx, user, "taro@example.com", "test"); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetLanguage(ctx, user, "en", "test"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := runUser([]string{"add-phone", "-config", cfgPath, user, "+81 90 1234 5678"}); err != nil {
		t.Fatal(err)
	}
	m := smtp.Await(t, "taro@example.com", "A new sign-in method was added to your VPN account ("+user+")")
	if !strings.Contains(m.Text(), "Where: the help desk") || !strings.Contains(m.Text(), "+81 ••-••••-5678") {
		t.Errorf("help-desk notification:\n%s", m.Text())
	}
	if err := runUser([]string{"reset", "-config", cfgPath, user}); err != nil {
		t.Fatal(err)
	}
	smtp.Await(t, "taro@example.com", "The help desk deleted every sign-in method")
	// Without an email nothing is sent, and the command works as before.
	if err := runUser([]string{"add-phone", "-config", cfgPath, user, "+81 90 1234 5678"}); err != nil {
		t.Fatal(err)
	}
	if n := len(smtp.Messages()); n != 2 {
		t.Errorf("%d mails, want 2", n)
	}
}
