package webpush

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

const testSubject = "mailto:it@example.ac.jp"

func newVAPID(t *testing.T) (*VAPID, string) {
	t.Helper()
	priv, _, err := GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVAPID(priv, testSubject)
	if err != nil {
		t.Fatal(err)
	}
	return v, priv
}

func TestGenerateVAPIDWritesWhatNewVAPIDReads(t *testing.T) {
	priv, pub, err := GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	if d := b64(t, priv); len(d) != 32 {
		t.Errorf("private key of %d bytes, want 32", len(d))
	}
	if p := b64(t, pub); len(p) != 65 || p[0] != 4 {
		t.Errorf("public key of %d bytes starting %#x, want 65 starting 0x04", len(p), p[0])
	}
	v, err := NewVAPID(priv, testSubject)
	if err != nil {
		t.Fatal(err)
	}
	if v.PublicKey() != pub {
		t.Errorf("PublicKey %s, generated %s", v.PublicKey(), pub)
	}
	priv2, _, _ := GenerateVAPID()
	if priv2 == priv {
		t.Error("two keys alike")
	}
	// Standard base64 with padding, as some tools store keys, is the same key.
	std := base64.StdEncoding.EncodeToString(b64(t, priv))
	if v2, err := NewVAPID(std, testSubject); err != nil || v2.PublicKey() != pub {
		t.Errorf("standard base64 of the key: %v", err)
	}
}

func TestNewVAPIDNamesWhatIsWrong(t *testing.T) {
	_, good := newVAPID(t)
	allOnes := strings.Repeat("_", 43) // 32 bytes of 0xff: above the group order
	tests := []struct {
		name, key, subject, want string
	}{
		{"no key", "", testSubject, "webpush: vapid private key: required"},
		{"not base64", "not a key!", testSubject, "webpush: vapid private key: not base64url"},
		{"public key given", rfc8291.asPublic, testSubject, "webpush: vapid private key: 65 bytes, want 32"},
		{"zero scalar", strings.Repeat("A", 43), testSubject, "webpush: vapid private key: not a P-256 private key"},
		{"scalar too large", allOnes, testSubject, "webpush: vapid private key: not a P-256 private key"},
		{"no subject", good, "", "webpush: vapid subject: required (mailto: or https://)"},
		{"bare address", good, "it@example.ac.jp", "webpush: vapid subject: must start with mailto: or https://"},
		{"http URL", good, "http://example.ac.jp/", "webpush: vapid subject: must start with mailto: or https://"},
		{"empty mailto", good, "mailto:", "webpush: vapid subject: mailto: needs an address"},
		{"https without host", good, "https://", "webpush: vapid subject: https:// URL has no host"},
		{"mailto", good, testSubject, ""},
		{"https", good, "https://kakunin.example.ac.jp/contact", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVAPID(tt.key, tt.subject)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("error %v, want %q", err, tt.want)
			case err != nil && tt.key != "" && strings.Contains(err.Error(), tt.key):
				t.Fatalf("error %q quotes the key", err)
			}
		})
	}
}

func TestVAPIDTokenVerifiesAsPushServiceChecksIt(t *testing.T) {
	v, _ := newVAPID(t)
	now := time.Unix(1767225600, 0)
	endpoint, _ := url.Parse("https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91b")
	header, err := v.authorization(endpoint, now)
	if err != nil {
		t.Fatal(err)
	}
	k, claims, err := verifyVAPID(header, "https://fcm.googleapis.com", now)
	if err != nil {
		t.Fatalf("push service refuses %q: %v", header, err)
	}
	if k != v.PublicKey() {
		t.Errorf("k=%s, want %s", k, v.PublicKey())
	}
	if want := now.Add(12 * time.Hour).Unix(); claims.Exp != want || claims.Sub != testSubject {
		t.Errorf("claims %+v, want exp %d and sub %s", claims, want, testSubject)
	}
	// The exact JOSE header and the header's layout.
	tok := strings.TrimSuffix(strings.TrimPrefix(header, "vapid t="), ", k="+v.PublicKey())
	if h := string(b64(t, strings.Split(tok, ".")[0])); h != `{"typ":"JWT","alg":"ES256"}` {
		t.Errorf("JOSE header %s", h)
	}
	if !strings.HasPrefix(header, "vapid t=") || !strings.HasSuffix(header, ", k="+v.PublicKey()) {
		t.Errorf("Authorization %q", header)
	}
	// A day later the token is refused.
	if _, _, err := verifyVAPID(header, "https://fcm.googleapis.com", now.Add(13*time.Hour)); err == nil {
		t.Error("token still valid after 13 hours")
	}
}

func TestAudienceIsTheEndpointsOrigin(t *testing.T) {
	tests := []struct{ endpoint, want string }{
		{"https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com"},
		{"https://updates.push.services.mozilla.com/wpush/v2/gAAA?x=1", "https://updates.push.services.mozilla.com"},
		{"https://Web.Push.Apple.com:443/QO", "https://web.push.apple.com"},
		{"https://push.example.net:8443/p", "https://push.example.net:8443"},
		{"http://127.0.0.1:8080/push", "http://127.0.0.1:8080"},
		{"http://[::1]:80/push", "http://[::1]"},
		{"http://[::1]:9000/push", "http://[::1]:9000"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if got := origin(u); got != tt.want {
			t.Errorf("origin(%s) = %s, want %s", tt.endpoint, got, tt.want)
		}
	}
}

func TestVAPIDPrintsNoPrivateKey(t *testing.T) {
	v, priv := newVAPID(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, v)
		if strings.Contains(out, priv) || !strings.Contains(out, v.PublicKey()) {
			t.Errorf("%s prints %s", verb, out)
		}
	}
}
