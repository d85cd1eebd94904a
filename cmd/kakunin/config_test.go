package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"

	"kakunin/challenge"
	"kakunin/challenge/webpush"
	"kakunin/configs"
	"kakunin/internal/demodir"
	"kakunin/internal/testenv"
)

// exampleSecrets are values for the environment variables the example
// configuration references, each valid for where it is used.
var exampleSecrets = map[string]string{
	"KAKUNIN_SECRET_VPN_GW_1":   "gw1-shared-secret-6d1f0c",
	"KAKUNIN_LDAP_PASSWORD":     "ldap-bind-password-93ae1b",
	"KAKUNIN_POSTGRES_DSN":      "postgres://kakunin:pg-password-5be7a2@db.example.ac.jp:5432/kakunin?sslmode=verify-full",
	"KAKUNIN_STORE_KEY":         base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
	"KAKUNIN_TWILIO_AUTH_TOKEN": "twilio-auth-token-7c41e9d2",
	"KAKUNIN_SMTP_PASSWORD":     "smtp-password-2f8d41",
}

const exampleFileSecret = "gw2-shared-secret-from-file-48c2"

var (
	exampleEnvRef  = regexp.MustCompile(`\{env: *([A-Za-z_][A-Za-z0-9_]*)\}`)
	exampleEtcPath = regexp.MustCompile(`/etc/kakunin/[A-Za-z0-9._-]+`)
)

// baseConfigYAML is a small valid configuration that tests change; its
// store key is baseStoreKey.
var (
	baseStoreKey   = base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	baseConfigYAML = `radius:
  listen: ["127.0.0.1:1812"]
  clients:
    - name: vpn-gw
      addresses: [192.0.2.10]
      secret: "base-shared-secret-0f9e"
ldap:
  urls: [ldaps://ldap.example.ac.jp]
  bind_dn: cn=kakunin,ou=services,dc=example,dc=ac,dc=jp
  bind_password: "base-bind-password-77aa"
  base_dn: ou=people,dc=example,dc=ac,dc=jp
store:
  driver: sqlite
  path: /var/lib/kakunin/kakunin.db
  encryption:
    keys:
      - {id: k1, key: "` + baseStoreKey + `"}
flow:
  user_pattern: '^[0-9]{10}$'
`
)

func TestCheckConfig(t *testing.T) {
	t.Run("ExampleIsValidAndPrintsNoSecret", func(t *testing.T) {
		example, err := os.ReadFile("../../configs/kakunin.example.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var settings []string // the lines that are not comments
		for _, line := range strings.Split(string(example), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "#") {
				settings = append(settings, line)
			}
		}
		used := strings.Join(settings, "\n")
		// Every file the example references gets a stand-in in dir: a CA
		// certificate for *.pem, a secret otherwise.
		dir := t.TempDir()
		for _, p := range exampleEtcPath.FindAllString(used, -1) {
			content := exampleFileSecret
			switch {
			case strings.HasSuffix(p, ".pem"):
				content = string(testenv.CAPEM(t))
			case strings.HasSuffix(p, "vapid.key"):
				priv, _, err := webpush.GenerateVAPID()
				if err != nil {
					t.Fatal(err)
				}
				content = priv
			}
			writeFile(t, dir, filepath.Base(p), content)
		}
		path := writeFile(t, dir, "kakunin.yaml", strings.ReplaceAll(string(example), "/etc/kakunin/", dir+"/"))

		env := os.Environ()
		for _, m := range exampleEnvRef.FindAllStringSubmatch(used, -1) {
			v, ok := exampleSecrets[m[1]]
			if !ok {
				t.Fatalf("the example references $%s: give it a value in exampleSecrets", m[1])
			}
			env = append(env, m[1]+"="+v)
		}
		cmd := exec.Command(kakuninBinary(t), "check-config", "-config", path)
		cmd.Env = env
		var stdout, stderr syncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("check-config: %v\n%s%s", err, stdout.String(), stderr.String())
		}
		out := stdout.String() + stderr.String()
		if !strings.Contains(out, "is valid") {
			t.Errorf("check-config does not say the file is valid:\n%s", out)
		}
		secrets := []string{exampleFileSecret}
		for name, v := range exampleSecrets {
			secrets = append(secrets, v)
			if masked := "******** (env:" + name + ")"; !strings.Contains(out, masked) {
				t.Errorf("check-config does not show %s as %q:\n%s", name, masked, out)
			}
		}
		secrets = append(secrets, "pg-password-5be7a2")
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("check-config printed the secret %q:\n%s", s, out)
			}
		}
		if masked := "******** (file:" + filepath.Join(dir, "vpn-gw-2.secret") + ")"; !strings.Contains(out, masked) {
			t.Errorf("check-config does not show the file secret as %q:\n%s", masked, out)
		}
	})

	key := baseStoreKey
	shortKey := base64.StdEncoding.EncodeToString([]byte("only-16-bytes-xx"))
	base := baseConfigYAML
	if _, err := parseConfig([]byte(base)); err != nil {
		t.Fatalf("the base of the broken configurations is itself broken: %v", err)
	}
	secrets := []string{"base-shared-secret-0f9e", "base-bind-password-77aa", key, shortKey}

	for _, tc := range []struct {
		name     string
		old, new string // one replacement in base
		want     string // how the error starts: the key's full path, or the decoder's line
	}{
		{"UnknownKey", `  listen: [`, `  listne: [`, "yaml: unmarshal errors:\n  line 2: field listne not found in type radius.Config"},
		{"BadClientCIDR", `addresses: [192.0.2.10]`, `addresses: [192.0.2.0/33]`, "radius.clients[0].addresses[0]: "},
		{"EmptySecret", `secret: "base-shared-secret-0f9e"`, `secret: ""`, "radius.clients[0].secret: "},
		{"LDAPURLScheme", `urls: [ldaps://ldap.example.ac.jp]`, `urls: [https://ldap.example.ac.jp]`, "ldap.urls[0]: "},
		{"MissingEncryptionKey", `{id: k1, key: "` + key + `"}`, `{id: k1}`, "store.encryption.keys[0].key: "},
		{"NoEncryptionKeys", "  encryption:\n    keys:\n      - {id: k1, key: \"" + key + "\"}\n", "", "store.encryption.keys: "},
		{"ShortEncryptionKey", key, shortKey, "store.encryption.keys[0].key: "},
		{"InvalidUserPattern", `user_pattern: '^[0-9]{10}$'`, `user_pattern: '^[0-9{10}$'`, "flow.user_pattern: "},
		{"HoldUserCapBelowApprovalCap", "flow:\n", "flow:\n  hold: {max_per_approval: 5, max_per_user: 2}\n", "flow.hold.max_per_user: "},
		{"HoldApprovalCapZero", "flow:\n", "flow:\n  hold: {max_per_approval: -1}\n", "flow.hold.max_per_approval: "},
		{"PlainSMTPToARemoteHost", "flow:\n", "portal:\n  listen: 127.0.0.1:8080\n  smtp: {host: smtp.example.ac.jp, from: mfa@example.ac.jp, tls: none}\nflow:\n", "portal.smtp.tls: "},
		{"SMTPUserWithoutPassword", "flow:\n", "portal:\n  listen: 127.0.0.1:8080\n  smtp: {host: smtp.example.ac.jp, from: mfa@example.ac.jp, username: mfa}\nflow:\n", "portal.smtp.password: "},
		{"OwnMailDomain", "flow:\n", "portal:\n  listen: 127.0.0.1:8080\n  own_mail_domains: [\"@example.ac.jp\"]\nflow:\n", "portal.own_mail_domains[0]: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("%q is not in the base configuration", tc.old)
			}
			_, err := parseConfig([]byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q does not start with %q", err, tc.want)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows the secret %q", err, s)
				}
			}
		})
	}
}

// check-config warns of a user pattern that lets users type IDs in forms
// the directory folds into one account (they are refused, so users must
// be told how to type them).
func TestCheckConfigWarnsOfAPatternThatAdmitsNameVariants(t *testing.T) {
	conf := func(pattern string) string {
		return strings.Replace(baseConfigYAML, `user_pattern: '^[0-9]{10}$'`, "user_pattern: '"+pattern+"'", 1)
	}
	for pattern, want := range map[string]string{
		`^[0-9]{10}$`:      "",
		`^[a-z][a-z0-9]+$`: "",
		`^[A-Za-z0-9]+$`:   "upper case",
		`^\p{N}{10}$`:      "non-ASCII",
	} {
		cfg, err := parseConfig([]byte(conf(pattern)))
		if err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		w := strings.Join(cfg.warnings(time.Hour), "\n")
		switch {
		case want == "" && w != "":
			t.Errorf("%s: unexpected warning %q", pattern, w)
		case want != "" && (!strings.HasPrefix(w, "flow.user_pattern: ") || !strings.Contains(w, want)):
			t.Errorf("%s: warning %q, want one of flow.user_pattern naming %q", pattern, w, want)
		}
	}
}

// TestDemoConfigIsValid checks that what `kakunin demo` writes parses, and
// that kakunin wired from it signs the demo user in against the demo
// directory.
func TestDemoConfigIsValid(t *testing.T) {
	users, err := demodir.Load(configs.DemoUsers)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := demodir.Start("127.0.0.1:0", users, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dir.Stop)

	data := t.TempDir()
	radiusSecret, err := persistentSecret(filepath.Join(data, "radius.secret"), 18)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"store.key", "callback.key"} {
		if _, err := persistentSecret(filepath.Join(data, f), 32); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, data, "ldap.secret", dir.BindPassword())
	text := demoConfig(data, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", dir) + demoPortal("127.0.0.1:0")
	cfg, err := parseConfig([]byte(text))
	if err != nil {
		t.Fatalf("demo configuration: %v\n%s", err, text)
	}
	if len(cfg.LDAP.URLs) != 1 || cfg.LDAP.URLs[0] != dir.URL() {
		t.Errorf("ldap.urls = %q, want [%s]", cfg.LDAP.URLs, dir.URL())
	}
	if cfg.LDAP.BindPassword.Value() != dir.BindPassword() {
		t.Error("ldap.bind_password is not the demo directory's service password")
	}
	if len(cfg.Radius.Clients) != 1 || cfg.Radius.Clients[0].Secret.Value() != radiusSecret {
		t.Error("radius.clients[0].secret is not the secret in radius.secret")
	}
	if want := filepath.Join(data, "kakunin.db"); cfg.Store.Path != want {
		t.Errorf("store.path = %q, want %q", cfg.Store.Path, want)
	}

	seedText, err := enrollDemoUser(cfg, users[demoUser].ID, filepath.Join(data, "demo-totp.secret"))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := challenge.ParseTOTPSecret(string(seedText))
	if err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg, slog.New(slog.DiscardHandler))
	addr := a.radius.AuthAddrs()[0].String()
	u := users[demoUser]
	r := access(t, addr, radiusSecret, u.ID, u.Password, nil)
	if r.Code != radius.CodeAccessChallenge {
		t.Fatalf("demo user, round 1: got %v %q, want Access-Challenge", r.Code, r.Messages)
	}
	r = access(t, addr, radiusSecret, u.ID, challenge.TOTPCode(seed, time.Now()), r.State)
	if r.Code != radius.CodeAccessAccept {
		t.Fatalf("demo user, round 2: got %v %q, want Access-Accept", r.Code, r.Messages)
	}

	// kakunin radtest, as the demo tells users to run it: it answers the
	// challenge and succeeds only on Access-Accept. (Another user, since
	// the demo user's current code was just used.)
	other := users[3] // no method: rejected with the help-desk message
	if err := runRadtest([]string{"-server", addr, "-secret", radiusSecret, "-user", other.ID, "-password", other.Password,
		"-code", "123456"}); err == nil {
		t.Error("radtest succeeded for a user with no method")
	}
	if err := runRadtest([]string{"-server", addr, "-secret", radiusSecret, "-user", u.ID, "-password", "wrong-password",
		"-code", "123456"}); err == nil {
		t.Error("radtest succeeded with a wrong password")
	}
	if err := runRadtest([]string{"-server", addr, "-secret", "not-the-secret", "-user", u.ID, "-password", u.Password,
		"-timeout", "2s", "-retry", "500ms"}); err == nil {
		t.Error("radtest succeeded with the wrong shared secret")
	}
	enrolled := users[2]
	seed2, _, err := challenge.NewTOTPKey("test", enrolled.ID)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.AddTOTP(context.Background(), enrolled.ID, "", seed2, "test"); err != nil {
		t.Fatal(err)
	}
	if err := runRadtest([]string{"-server", addr, "-secret", radiusSecret, "-user", enrolled.ID, "-password", enrolled.Password,
		"-totp-secret", challenge.EncodeTOTPSecret(seed2)}); err != nil {
		t.Errorf("radtest with the right password and code: %v", err)
	}
}

func TestZeroDNCacheTTLInFileDisablesTheCache(t *testing.T) {
	base := `radius:
  clients: [{name: gw, addresses: [127.0.0.1], secret: "0123456789abcdef"}]
ldap:
  urls: [ldap://127.0.0.1:389]
  bind_dn: cn=svc
  bind_password: pw
  base_dn: dc=example
%s
store:
  path: /tmp/x.db
  encryption: {keys: [{id: k, key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}
`
	for in, want := range map[string]time.Duration{"": 10 * time.Minute, "  dn_cache_ttl: 0s": 0, "  dn_cache_ttl: 1m": time.Minute} {
		cfg, err := parseConfig([]byte(fmt.Sprintf(base, in)))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if cfg.LDAP.DNCacheTTL != want {
			t.Errorf("%q: dn_cache_ttl = %s, want %s", in, cfg.LDAP.DNCacheTTL, want)
		}
	}
}

// TestCheckConfigWarnsWhenTheHoldOutlivesTheShutdownGrace: with push
// approvals on and flow.hold.timeout longer than serve's -shutdown-grace,
// check-config warns on stderr (a restart would cut such holds short);
// stdout stays the configuration, and with a long enough grace there is no
// warning.
func TestCheckConfigWarnsWhenTheHoldOutlivesTheShutdownGrace(t *testing.T) {
	cert, tlsKey, _ := testenv.TLSFiles(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "kakunin.yaml", strings.Replace(baseConfigYAML, "flow:\n", "flow:\n  hold: {timeout: 60s}\n", 1)+fmt.Sprintf(`push:
  webhook: {url: "https://push.example.ac.jp/send", secret: "push-gateway-secret-0123456789abcdef"}
callbacks:
  listen: 127.0.0.1:8443
  public_url: https://mfa.example.ac.jp:8443
  signing_key: "callback-signing-key-for-the-test-0123456789"
  tls_cert_file: %s
  tls_key_file: %s
`, cert, tlsKey))
	for _, tc := range []struct {
		grace string
		warn  bool
	}{{"30s", true}, {"60s", false}, {"", false}} { // "": serve's default, 90s
		t.Run("grace "+tc.grace, func(t *testing.T) {
			args := []string{"check-config", "-config", path}
			if tc.grace != "" {
				args = append(args, "-shutdown-grace", tc.grace)
			}
			cmd := exec.Command(kakuninBinary(t), args...)
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("check-config: %v\n%s%s", err, stdout.String(), stderr.String())
			}
			warned := strings.Contains(stderr.String(), "warning: flow.hold.timeout: 1m0s is longer than -shutdown-grace")
			if warned != tc.warn {
				t.Errorf("warned %v, want %v; stderr:\n%s", warned, tc.warn, stderr.String())
			}
			if strings.Contains(stdout.String(), "warning") {
				t.Errorf("a warning on stdout, which is the configuration:\n%s", stdout.String())
			}
		})
	}
}
