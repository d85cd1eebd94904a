package webpush

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"kakunin/internal/testenv"
)

// browser is the receiving side of a subscription: the key pair and auth
// secret a browser makes in pushManager.subscribe().
type browser struct {
	key  *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t *testing.T) browser {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return browser{key: k, auth: auth}
}

func (b browser) subscription(endpoint string) Subscription {
	return Subscription{
		Endpoint: endpoint,
		P256dh:   base64.RawURLEncoding.EncodeToString(b.key.PublicKey().Bytes()),
		Auth:     base64.RawURLEncoding.EncodeToString(b.auth),
	}
}

// decrypt and verifyVAPID are the independent push-service side in
// internal/testenv (written from the RFCs, not from this package).
var (
	decrypt     = testenv.DecryptWebPush
	verifyVAPID = testenv.VerifyVAPID
)

// pushService is a push service as RFC 8030 and RFC 8292 describe it, for
// one subscription: it refuses a token that does not verify or a key other
// than the one the browser subscribed with, decrypts the message as the
// browser would and answers 201.
type pushService struct {
	t        *testing.T
	browser  browser
	vapidKey string // the applicationServerKey of the subscription

	mu  sync.Mutex
	got []delivery
}

type delivery struct {
	plaintext []byte
	header    http.Header
	claims    testenv.VAPIDClaims
}

func (ps *pushService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		ps.t.Errorf("read body: %v", err)
	}
	if r.Method != http.MethodPost {
		ps.t.Errorf("method %s", r.Method)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	k, claims, err := verifyVAPID(r.Header.Get("Authorization"), scheme+"://"+r.Host, time.Now())
	if err != nil {
		ps.t.Errorf("VAPID: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if k != ps.vapidKey {
		ps.t.Errorf("k=%s, subscribed with %s", k, ps.vapidKey)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if len(body) > 4096 {
		ps.t.Errorf("body of %d bytes, push services take 4096", len(body))
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	plaintext, err := decrypt(body, ps.browser.key, ps.browser.auth)
	if err != nil {
		ps.t.Errorf("decrypt: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ps.mu.Lock()
	ps.got = append(ps.got, delivery{plaintext: plaintext, header: r.Header.Clone(), claims: claims})
	ps.mu.Unlock()
	w.Header().Set("Location", "/message/1")
	w.WriteHeader(http.StatusCreated)
}

func (ps *pushService) deliveries() []delivery {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]delivery(nil), ps.got...)
}
