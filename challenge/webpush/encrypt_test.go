package webpush

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"strings"
	"testing"
)

// RFC 8291 Appendix A: the worked example of section 5, with the sender's
// ephemeral key and salt fixed. The RFC's message says Content-Length 145,
// but its body is 144 bytes (86 of header, 41 of plaintext, the delimiter
// and the 16-byte tag); the body is what is checked.
var rfc8291 = struct {
	plaintext                    string
	auth, salt                   string
	uaPrivate, uaPublic          string
	asPrivate, asPublic          string
	ecdhSecret, cek, nonce, body string
}{
	plaintext:  "When I grow up, I want to be a watermelon",
	auth:       "BTBZMqHH6r4Tts7J_aSIgg",
	salt:       "DGv6ra1nlYgDCS1FRnbzlw",
	uaPrivate:  "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
	uaPublic:   "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
	asPrivate:  "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
	asPublic:   "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
	ecdhSecret: "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs",
	cek:        "oIhVW04MRdy2XN9CiKLxTg",
	nonce:      "4h_95klXJ5E_qnoN",
	body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" +
		"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
		"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func privateKey(t *testing.T, s string) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.P256().NewPrivateKey(b64(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncryptReproducesRFC8291AppendixA(t *testing.T) {
	v := rfc8291
	ua := privateKey(t, v.uaPrivate)
	as := privateKey(t, v.asPrivate)
	auth, salt := b64(t, v.auth), b64(t, v.salt)
	if got := encodeBase64(ua.PublicKey().Bytes()); got != v.uaPublic {
		t.Fatalf("ua_public %s, want %s", got, v.uaPublic)
	}
	if got := encodeBase64(as.PublicKey().Bytes()); got != v.asPublic {
		t.Fatalf("as_public %s, want %s", got, v.asPublic)
	}

	// The intermediate values first, so a failure says which step broke.
	secret, err := as.ECDH(ua.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeBase64(secret); got != v.ecdhSecret {
		t.Errorf("ecdh_secret %s, want %s", got, v.ecdhSecret)
	}
	cek, nonce, err := deriveKeys(as, ua.PublicKey(), ua.PublicKey().Bytes(), as.PublicKey().Bytes(), auth, salt)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeBase64(cek); got != v.cek {
		t.Errorf("CEK %s, want %s", got, v.cek)
	}
	if got := encodeBase64(nonce); got != v.nonce {
		t.Errorf("NONCE %s, want %s", got, v.nonce)
	}
	// The browser's side derives the same from its own key.
	cek2, nonce2, err := deriveKeys(ua, as.PublicKey(), ua.PublicKey().Bytes(), as.PublicKey().Bytes(), auth, salt)
	if err != nil || !bytes.Equal(cek, cek2) || !bytes.Equal(nonce, nonce2) {
		t.Errorf("receiver derives CEK %x NONCE %x (%v), sender %x %x", cek2, nonce2, err, cek, nonce)
	}

	body, err := encrypt([]byte(v.plaintext), ua.PublicKey(), auth, as, salt)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeBase64(body); got != v.body {
		t.Errorf("body\n%s\nwant\n%s", got, v.body)
	}
	if len(body) != 144 {
		t.Errorf("body of %d bytes, want 144", len(body))
	}

	// The test's decrypt, which the fake push service relies on, opens the
	// RFC's body too.
	plain, err := decrypt(b64(t, v.body), ua, auth)
	if err != nil || string(plain) != v.plaintext {
		t.Errorf("decrypt(RFC body) = %q, %v", plain, err)
	}
}

func TestEncryptUsesFreshKeyAndSaltPerMessage(t *testing.T) {
	b := newBrowser(t)
	msg := []byte(`{"approve":"abc"}`)
	one, err := encryptMessage(msg, b.key.PublicKey(), b.auth)
	if err != nil {
		t.Fatal(err)
	}
	two, err := encryptMessage(msg, b.key.PublicKey(), b.auth)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(one[:16], two[:16]) {
		t.Error("two messages share a salt")
	}
	if bytes.Equal(one[21:86], two[21:86]) {
		t.Error("two messages share a sender key")
	}
	for _, body := range [][]byte{one, two} {
		if got, err := decrypt(body, b.key, b.auth); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("decrypt = %q, %v", got, err)
		}
	}
	other := newBrowser(t)
	if _, err := decrypt(one, other.key, other.auth); err == nil {
		t.Error("another browser's keys opened the message")
	}
}

func TestEncryptFitsPushServiceLimit(t *testing.T) {
	b := newBrowser(t)
	if MaxPayload != 3993 {
		t.Errorf("MaxPayload %d, want 3993", MaxPayload)
	}
	body, err := encryptMessage(bytes.Repeat([]byte{'a'}, MaxPayload), b.key.PublicKey(), b.auth)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != 4096 {
		t.Errorf("largest body %d bytes, want 4096", len(body))
	}
	_, err = encryptMessage(bytes.Repeat([]byte{'a'}, MaxPayload+1), b.key.PublicKey(), b.auth)
	if err == nil || !strings.Contains(err.Error(), "3994 bytes") {
		t.Errorf("payload of MaxPayload+1: err %v", err)
	}
}
