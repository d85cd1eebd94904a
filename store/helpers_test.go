package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
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
