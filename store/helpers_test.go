package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/internal/secret"
	"kakunin/store"
)

func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mustOpen opens a store that is closed when the test ends.
func mustOpen(t testing.TB, cfg store.Config) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// perTest gives each test one database, whatever number of stores it
// opens on it.
type perTest struct {
	mu  sync.Mutex
	dbs map[*testing.T]string
}

func (p *perTest) get(t *testing.T, create func() string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dbs == nil {
		p.dbs = map[*testing.T]string{}
	}
	db, ok := p.dbs[t]
	if !ok {
		db = create()
		p.dbs[t] = db
	}
	return db
}

// testAtRest checks, on the raw database, that method secrets are
// encrypted and bound to their row. raw is a second handle on the database
// s uses.
func testAtRest(t *testing.T, s store.Store, raw *sql.DB) {
	ctx := t.Context()
	alice := store.Method{ID: store.NewID(), UserID: "alice", Kind: store.KindOfficePhone,
		Phone: "+81312345678", Extension: "4711", Secret: []byte("JBSWY3DPEHPK3PXP"), CreatedAt: time.Now()}
	bob := store.Method{ID: store.NewID(), UserID: "bob", Kind: store.KindOfficePhone,
		Phone: "+81399999999", Extension: "0815", CreatedAt: time.Now()}
	for _, m := range []store.Method{alice, bob} {
		if err := s.AddMethod(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		secret, phone, ext []byte
		keyID              string
	}
	read := func(id string) row {
		t.Helper()
		var r row
		if err := raw.QueryRowContext(ctx, `SELECT secret_ct, phone_ct, extension_ct, key_id FROM methods WHERE id = $1`, id).
			Scan(&r.secret, &r.phone, &r.ext, &r.keyID); err != nil {
			t.Fatal(err)
		}
		return r
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	methodsErr := func(user string) error {
		t.Helper()
		_, err := s.Methods(ctx, user)
		return err
	}

	a := read(alice.ID)
	if a.keyID != "k1" {
		t.Errorf("key_id = %q, want k1", a.keyID)
	}
	for _, c := range []struct {
		name      string
		ct, plain []byte
	}{
		{"secret_ct", a.secret, alice.Secret},
		{"phone_ct", a.phone, []byte(alice.Phone)},
		{"phone_ct (digits)", a.phone, []byte("312345678")},
		{"extension_ct", a.ext, []byte(alice.Extension)},
	} {
		if len(c.ct) < len(c.plain)+28 {
			t.Errorf("%s is %d bytes, want nonce, ciphertext and tag (%d)", c.name, len(c.ct), len(c.plain)+28)
		}
		if bytes.Contains(c.ct, c.plain) {
			t.Errorf("%s contains the plaintext", c.name)
		}
	}
	// Two rows with equal plaintext differ (random nonces).
	if b := read(bob.ID); bytes.Equal(b.secret[:12], a.secret[:12]) {
		t.Error("two ciphertexts share a nonce")
	}

	restore := func() {
		exec(`UPDATE methods SET secret_ct = $1, phone_ct = $2, extension_ct = $3, key_id = $4 WHERE id = $5`,
			a.secret, a.phone, a.ext, a.keyID, alice.ID)
		if err := methodsErr("alice"); err != nil {
			t.Fatalf("after restoring the row: %v", err)
		}
	}
	wantDecryptErr := func(what, mention string) {
		t.Helper()
		err := methodsErr("alice")
		if !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("%s: Methods = %v, want ErrDecrypt", what, err)
			return
		}
		if !strings.Contains(err.Error(), mention) {
			t.Errorf("%s: error %q does not mention %s", what, err, mention)
		}
		for _, secret := range []string{string(alice.Secret), alice.Phone, "312345678"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows a secret: %v", what, err)
			}
		}
	}

	// Bob's phone copied into alice's row does not decrypt.
	b := read(bob.ID)
	exec(`UPDATE methods SET phone_ct = $1 WHERE id = $2`, b.phone, alice.ID)
	wantDecryptErr("phone copied from another row", alice.ID)
	restore()

	// Alice's own extension copied into her phone column does not either.
	exec(`UPDATE methods SET phone_ct = $1 WHERE id = $2`, a.ext, alice.ID)
	wantDecryptErr("field copied to another column", "phone")
	restore()

	// One flipped bit.
	tampered := bytes.Clone(a.secret)
	tampered[len(tampered)-1] ^= 1
	exec(`UPDATE methods SET secret_ct = $1 WHERE id = $2`, tampered, alice.ID)
	wantDecryptErr("tampered ciphertext", "secret")
	restore()

	// Truncated.
	exec(`UPDATE methods SET secret_ct = $1 WHERE id = $2`, a.secret[:5], alice.ID)
	wantDecryptErr("truncated ciphertext", "secret")
	restore()

	// A key id this configuration lacks.
	exec(`UPDATE methods SET key_id = 'k9' WHERE id = $1`, alice.ID)
	wantDecryptErr("unknown key id", `"k9"`)
	restore()

	if err := methodsErr("bob"); err != nil {
		t.Errorf("bob: %v", err)
	}
}

func sqliteConfig(path string, enc store.Encryption) store.Config {
	return store.Config{Driver: store.DriverSQLite, Path: path, Encryption: enc}
}

func postgresConfig(dsn string, enc store.Encryption) store.Config {
	return store.Config{Driver: store.DriverPostgres, DSN: secret.New(dsn), Encryption: enc}
}

// testChallengeAtRest checks, on the raw database, that a challenge's
// secret is encrypted and bound to its state. raw is a second handle on
// the database s uses.
func testChallengeAtRest(t *testing.T, s store.Store, raw *sql.DB) {
	ctx := t.Context()
	now := time.Now()
	const code = "493817"
	issue := func(secret string) store.Challenge {
		t.Helper()
		c := store.Challenge{State: store.NewID(), UserID: "alice", Client: "gw", MethodID: "M1", Kind: "sms",
			Secret: []byte(secret), ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	read := func(state string) (ct []byte, keyID string) {
		t.Helper()
		if err := raw.QueryRowContext(ctx, `SELECT secret_ct, key_id FROM challenges WHERE state = $1`, state).Scan(&ct, &keyID); err != nil {
			t.Fatal(err)
		}
		return ct, keyID
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	wantDecryptErr := func(what string, c store.Challenge, mention string) {
		t.Helper()
		_, err := s.TakeChallenge(ctx, c.State, now)
		if !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("%s: TakeChallenge = %v, want ErrDecrypt", what, err)
		} else if !strings.Contains(err.Error(), mention) {
			t.Errorf("%s: error %q does not mention %s", what, err, mention)
		} else if strings.Contains(err.Error(), code) || strings.Contains(err.Error(), string(c.Secret)) {
			t.Errorf("%s: error shows a code: %v", what, err)
		}
		if _, err := s.TakeChallenge(ctx, c.State, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: challenge not spent by the failed take: %v", what, err)
		}
	}

	a := issue(code)
	act, keyID := read(a.State)
	if keyID != "k1" {
		t.Errorf("key_id = %q, want k1", keyID)
	}
	if len(act) != len(code)+28 {
		t.Errorf("secret_ct is %d bytes, want nonce, ciphertext and tag (%d)", len(act), len(code)+28)
	}
	if bytes.Contains(act, []byte(code)) {
		t.Error("secret_ct contains the code")
	}
	// An empty secret is sealed too.
	menu := store.Challenge{State: store.NewID(), UserID: "alice", Kind: "menu", Options: []string{"M1", "M2"}, ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateChallenge(ctx, menu); err != nil {
		t.Fatal(err)
	}
	if ct, keyID := read(menu.State); len(ct) != 28 || keyID != "k1" {
		t.Errorf("empty secret stored as %d bytes under key %q, want 28 (nonce and tag) under k1", len(ct), keyID)
	}
	if got, err := s.TakeChallenge(ctx, menu.State, now); err != nil || got.Secret != nil || len(got.Options) != 2 {
		t.Errorf("menu challenge = %+v, %v", got, err)
	}

	// A's sealed code copied to another challenge does not decrypt there.
	b := issue("000000")
	if bct, _ := read(b.State); bytes.Equal(bct[:12], act[:12]) {
		t.Error("two ciphertexts share a nonce")
	}
	exec(`UPDATE challenges SET secret_ct = $1 WHERE state = $2`, act, b.State)
	wantDecryptErr("secret copied from another challenge", b, "copied")

	// The same through Redeem: ErrDecrypt, decide not called, spent.
	b = issue("000000")
	exec(`UPDATE challenges SET secret_ct = $1 WHERE state = $2`, act, b.State)
	_, _, _, err := s.Redeem(ctx, b.State, now, store.AccountQuery{}, func(store.Challenge, store.Account) store.Redemption {
		t.Error("decide called with a secret that does not decrypt")
		return store.Redemption{}
	})
	if !errors.Is(err, store.ErrDecrypt) {
		t.Errorf("Redeem of a copied secret = %v, want ErrDecrypt", err)
	}
	if _, err := s.TakeChallenge(ctx, b.State, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("challenge not spent by the failed Redeem: %v", err)
	}

	// One flipped bit.
	c := issue(code)
	ct, _ := read(c.State)
	ct[len(ct)-1] ^= 1
	exec(`UPDATE challenges SET secret_ct = $1 WHERE state = $2`, ct, c.State)
	wantDecryptErr("tampered ciphertext", c, "altered")

	// Emptied: not the same as no secret.
	c = issue(code)
	exec(`UPDATE challenges SET secret_ct = substr(secret_ct, 1, 0) WHERE state = $1`, c.State)
	wantDecryptErr("emptied ciphertext", c, "altered")

	// Emptied, with the key id of a row written before migration 0002:
	// still refused for an SMS challenge.
	c = issue(code)
	exec(`UPDATE challenges SET secret_ct = substr(secret_ct, 1, 0), key_id = '' WHERE state = $1`, c.State)
	wantDecryptErr("SMS challenge made to look older than its secret", c, `key ""`)

	// A key id this configuration lacks.
	c = issue(code)
	exec(`UPDATE challenges SET key_id = 'k9' WHERE state = $1`, c.State)
	wantDecryptErr("unknown key id", c, `"k9"`)

	// A itself is intact.
	got, err := s.TakeChallenge(ctx, a.State, now)
	if err != nil || string(got.Secret) != code {
		t.Errorf("untouched challenge: %q, %v", got.Secret, err)
	}
}

// testUpgradeFrom1 creates a database at schema version 1 holding a
// pending challenge, as a kakunin before migration 0002 left it, then
// opens it: the migration applies, and the challenge reads as a TOTP
// challenge with no secret. schemaMigrations creates the table as Open
// does; insertChallenge inserts the old row, binding its state, user and
// expiry.
func testUpgradeFrom1(t *testing.T, raw *sql.DB, dialect, schemaMigrations, insertChallenge string, expires any, open func() store.Store) {
	ctx := t.Context()
	v1, err := os.ReadFile(filepath.Join("migrations", dialect, "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(v1), schemaMigrations, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, '0001_init.sql', ` + map[string]string{"sqlite": "0", "postgres": "now()"}[dialect] + `)`} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.ExecContext(ctx, insertChallenge, "old-state", "alice", expires); err != nil {
		t.Fatal(err)
	}
	s := open()
	var v int
	if err := raw.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v < 2 {
		t.Fatalf("schema version after Open = %d, %v", v, err)
	}
	got, err := s.TakeChallenge(ctx, "old-state", time.Now())
	if err != nil {
		t.Fatalf("challenge from before the upgrade: %v", err)
	}
	if got.UserID != "alice" || got.Client != "gw" || got.Kind != "totp" || got.Secret != nil || got.Options != nil ||
		got.Attempts != 1 || len(got.Groups) != 1 || got.Groups[0] != "vpn" {
		t.Errorf("challenge from before the upgrade = %+v", got)
	}
	// And the new tables work.
	if ok, err := s.ReserveSend(ctx, "alice", "M1", time.Now(), store.SendLimits{PerMethod: time.Minute, PerUser: 1, PerUserWindow: time.Hour}); err != nil || !ok {
		t.Errorf("ReserveSend after the upgrade = %v, %v", ok, err)
	}
}
