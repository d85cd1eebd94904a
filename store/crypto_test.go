package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"kakunin/internal/secret"
)

func testKey(id string) EncryptionKey {
	return EncryptionKey{ID: id, Key: secret.New(base64.StdEncoding.EncodeToString(randomBytes(KeySize)))}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustKeyring(t *testing.T, enc Encryption) *keyring {
	t.Helper()
	kr, err := newKeyring(enc)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func sampleMethod() Method {
	return Method{ID: "M1", UserID: "alice", Kind: KindOfficePhone, Secret: []byte("seed\x00bytes"), Phone: "+81312345678", Extension: "4711"}
}

func TestSealedMethodOpensToPlaintext(t *testing.T) {
	kr := mustKeyring(t, Encryption{Keys: []EncryptionKey{testKey("k1")}})
	m := sampleMethod()
	sm := kr.sealMethod(&m)
	if sm.keyID != "k1" {
		t.Errorf("keyID = %q, want k1 (the first key is current by default)", sm.keyID)
	}
	for _, ct := range [][]byte{sm.secret, sm.phone, sm.extension} {
		for _, pt := range []string{string(m.Secret), m.Phone, m.Extension} {
			if bytes.Contains(ct, []byte(pt)) {
				t.Errorf("ciphertext contains %q", pt)
			}
		}
	}
	got := Method{ID: m.ID, UserID: m.UserID}
	if err := kr.openMethod(&got, sm); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Secret, m.Secret) || got.Phone != m.Phone || got.Extension != m.Extension {
		t.Errorf("opened %+v, want %+v", got, m)
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	kr := mustKeyring(t, Encryption{Keys: []EncryptionKey{testKey("k1")}})
	a := kr.seal("alice", "M1", fieldSecret, []byte("same"))
	b := kr.seal("alice", "M1", fieldSecret, []byte("same"))
	if bytes.Equal(a, b) {
		t.Error("two seals of one plaintext are equal")
	}
}

func TestEmptyFieldsAreSealedToo(t *testing.T) {
	kr := mustKeyring(t, Encryption{Keys: []EncryptionKey{testKey("k1")}})
	m := Method{ID: "M1", UserID: "alice", Kind: KindTOTP, Secret: []byte("seed")}
	sm := kr.sealMethod(&m)
	if len(sm.phone) != 28 || len(sm.extension) != 28 {
		t.Errorf("empty fields sealed to %d and %d bytes, want 28 (nonce and tag)", len(sm.phone), len(sm.extension))
	}
	// So emptying a column is tampering, not a valid empty value.
	sm.phone = nil
	got := Method{ID: m.ID, UserID: m.UserID}
	if err := kr.openMethod(&got, sm); !errors.Is(err, ErrDecrypt) {
		t.Errorf("emptied column = %v, want ErrDecrypt", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	k1 := testKey("k1")
	kr := mustKeyring(t, Encryption{Keys: []EncryptionKey{k1}})
	m := sampleMethod()
	sm := kr.sealMethod(&m)

	flipped := bytes.Clone(sm.secret)
	flipped[len(flipped)/2] ^= 0x40

	for _, c := range []struct {
		name            string
		keyID, user, id string
		field           string
		ct              []byte
		kr              *keyring
		mention         string
	}{
		{"tampered", "k1", "alice", "M1", fieldSecret, flipped, kr, "altered"},
		{"truncated", "k1", "alice", "M1", fieldSecret, sm.secret[:20], kr, "altered"},
		{"empty", "k1", "alice", "M1", fieldSecret, nil, kr, "altered"},
		{"moved to another method", "k1", "alice", "M2", fieldSecret, sm.secret, kr, "M2"},
		{"moved to another user", "k1", "bob", "M1", fieldSecret, sm.secret, kr, `"bob"`},
		{"moved to another field", "k1", "alice", "M1", fieldPhone, sm.secret, kr, "phone"},
		// "alice/M1" as a user with method "x" would give the same string
		// if method IDs could hold '/'; checkMethodID refuses that.
		{"unknown key id", "k0", "alice", "M1", fieldSecret, sm.secret, kr, `key "k0", which is not in encryption.keys`},
		{"other key material under the same id", "k1", "alice", "M1", fieldSecret, sm.secret,
			mustKeyring(t, Encryption{Keys: []EncryptionKey{testKey("k1")}}), "different key material"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pt, err := c.kr.open(c.keyID, c.user, c.id, c.field, c.ct)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("open = %q, %v; want ErrDecrypt", pt, err)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %s", err, c.mention)
			}
			if strings.Contains(err.Error(), "seed") {
				t.Errorf("error shows the plaintext: %v", err)
			}
		})
	}
}

func TestRotationKeepsOldRowsReadable(t *testing.T) {
	k1, k2 := testKey("k1"), testKey("k2")
	old := mustKeyring(t, Encryption{Keys: []EncryptionKey{k1}})
	m := sampleMethod()
	sm := old.sealMethod(&m)

	rotated := mustKeyring(t, Encryption{Keys: []EncryptionKey{k1, k2}, Current: "k2"})
	got := Method{ID: m.ID, UserID: m.UserID}
	if err := rotated.openMethod(&got, sm); err != nil {
		t.Fatalf("row under the old key after rotation: %v", err)
	}
	if got.Phone != m.Phone {
		t.Errorf("phone = %q", got.Phone)
	}
	if n := rotated.sealMethod(&m); n.keyID != "k2" {
		t.Errorf("new rows sealed with %q, want the current key k2", n.keyID)
	}

	resealed, err := rotated.reseal(m.UserID, m.ID, sm)
	if err != nil {
		t.Fatal(err)
	}
	if resealed.keyID != "k2" {
		t.Errorf("resealed with %q, want k2", resealed.keyID)
	}
	onlyNew := mustKeyring(t, Encryption{Keys: []EncryptionKey{k2}})
	got = Method{ID: m.ID, UserID: m.UserID}
	if err := onlyNew.openMethod(&got, resealed); err != nil {
		t.Fatalf("resealed row without the old key: %v", err)
	}
	if err := onlyNew.openMethod(&got, sm); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), `"k1"`) {
		t.Errorf("old row without the old key = %v, want ErrDecrypt naming k1", err)
	}
}

func TestNewKeyringRefusesUnknownCurrent(t *testing.T) {
	if _, err := newKeyring(Encryption{Keys: []EncryptionKey{testKey("k1")}, Current: "k2"}); err == nil {
		t.Error("newKeyring accepted a current key that is not listed")
	}
}

func TestChallengeSecretBoundToState(t *testing.T) {
	kr := mustKeyring(t, Encryption{Keys: []EncryptionKey{testKey("k1")}})
	c := Challenge{State: "S1", UserID: "alice", Kind: "sms", Secret: []byte("493817")}
	ct, keyID := kr.sealChallenge(&c)
	if keyID != "k1" || bytes.Contains(ct, c.Secret) {
		t.Fatalf("sealed under %q: %x", keyID, ct)
	}
	got := Challenge{State: "S1", UserID: "alice", Kind: "sms"}
	if err := kr.openChallenge(&got, keyID, ct); err != nil || string(got.Secret) != "493817" {
		t.Fatalf("openChallenge = %q, %v", got.Secret, err)
	}
	for _, c := range []struct {
		name, state, kind, keyID string
		ct                       []byte
	}{
		{"other state", "S2", "sms", "k1", ct},
		{"state with the field appended", "S1/secret", "sms", "k1", ct},
		{"emptied", "S1", "sms", "k1", nil},
		{"emptied with no key id", "S1", "sms", "", nil},
		{"unknown key id", "S1", "sms", "k9", ct},
		{"no key id, with a ciphertext", "S1", "totp", "", ct},
	} {
		got := Challenge{State: c.state, UserID: "alice", Kind: c.kind}
		if err := kr.openChallenge(&got, c.keyID, c.ct); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: openChallenge = %q, %v; want ErrDecrypt", c.name, got.Secret, err)
		}
	}
	// A row from before migration 0002: the column defaults.
	legacy := Challenge{State: "S1", UserID: "alice", Kind: "totp"}
	if err := kr.openChallenge(&legacy, "", nil); err != nil || legacy.Secret != nil {
		t.Errorf("row from before 0002 = %q, %v; want no secret", legacy.Secret, err)
	}
	// An empty secret is sealed and opens to nil.
	empty := Challenge{State: "S3", UserID: "alice", Kind: "menu"}
	ct, keyID = kr.sealChallenge(&empty)
	if len(ct) != 28 {
		t.Errorf("empty secret sealed to %d bytes, want 28", len(ct))
	}
	if err := kr.openChallenge(&empty, keyID, ct); err != nil || empty.Secret != nil {
		t.Errorf("empty secret opened to %q, %v", empty.Secret, err)
	}
}
