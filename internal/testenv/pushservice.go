package testenv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// PushService is a Web Push service (RFC 8030) with one subscribed
// browser, as a real HTTP server: it checks each message's VAPID token
// (RFC 8292) against the key the browser subscribed with, decrypts the
// body as the browser would (RFC 8291, aes128gcm) and answers 201. It is
// written from the RFCs, apart from package webpush, so a round trip
// checks one implementation against another. Tests give the portal
// Subscription() as a browser's pushManager.subscribe() would.
type PushService struct {
	URL string // the subscription's endpoint

	t        testing.TB
	srv      *httptest.Server
	key      *ecdh.PrivateKey
	auth     []byte
	vapidKey string

	mu     sync.Mutex
	got    []PushMessage
	status int // answer instead of 201 when set
}

// PushMessage is one message the push service accepted.
type PushMessage struct {
	Plaintext []byte      // the decrypted payload
	Header    http.Header // TTL, Urgency, Topic, …
	Subject   string      // the VAPID token's sub
}

// NewPushService starts a push service for a browser subscribed with
// vapidPublicKey (base64url, the applicationServerKey). It stops with
// the test.
func NewPushService(t testing.TB, vapidPublicKey string) *PushService {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	token := make([]byte, 12)
	rand.Read(token)
	ps := &PushService{t: t, key: k, auth: auth, vapidKey: vapidPublicKey}
	ps.srv = httptest.NewServer(ps)
	t.Cleanup(ps.srv.Close)
	ps.URL = ps.srv.URL + "/wp/" + base64.RawURLEncoding.EncodeToString(token)
	return ps
}

// Subscription is the JSON of the browser's PushSubscription.toJSON().
func (ps *PushService) Subscription() string {
	b, _ := json.Marshal(map[string]any{
		"endpoint":       ps.URL,
		"expirationTime": nil,
		"keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(ps.key.PublicKey().Bytes()),
			"auth":   base64.RawURLEncoding.EncodeToString(ps.auth),
		},
	})
	return string(b)
}

// Answer makes the push service answer status from now on (410: the
// browser unsubscribed); 0 goes back to accepting.
func (ps *PushService) Answer(status int) {
	ps.mu.Lock()
	ps.status = status
	ps.mu.Unlock()
}

// Messages are the messages accepted so far.
func (ps *PushService) Messages() []PushMessage {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]PushMessage(nil), ps.got...)
}

// WaitMessages waits up to timeout for n messages.
func (ps *PushService) WaitMessages(t testing.TB, n int, timeout time.Duration) []PushMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := ps.Messages()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the push service received %d messages in %s, want %d", len(got), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ps *PushService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		ps.t.Errorf("push service: read body: %v", err)
	}
	if r.Method != http.MethodPost || r.URL.Path != strings.TrimPrefix(ps.URL, ps.srv.URL) {
		ps.t.Errorf("push service: %s %s, want POST to the endpoint", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ps.mu.Lock()
	status := ps.status
	ps.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	k, claims, err := VerifyVAPID(r.Header.Get("Authorization"), "http://"+r.Host, time.Now())
	if err != nil {
		ps.t.Errorf("push service: VAPID: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if k != ps.vapidKey {
		ps.t.Errorf("push service: VAPID key %s, the browser subscribed with %s", k, ps.vapidKey)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "" {
		ps.t.Errorf("push service: Content-Encoding %q, TTL %q", r.Header.Get("Content-Encoding"), r.Header.Get("TTL"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if len(body) > 4096 {
		ps.t.Errorf("push service: body of %d bytes, push services take 4096", len(body))
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	plaintext, err := DecryptWebPush(body, ps.key, ps.auth)
	if err != nil {
		ps.t.Errorf("push service: decrypt: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ps.mu.Lock()
	ps.got = append(ps.got, PushMessage{Plaintext: plaintext, Header: r.Header.Clone(), Subject: claims.Sub})
	ps.mu.Unlock()
	w.Header().Set("Location", "/message/1")
	w.WriteHeader(http.StatusCreated)
}

// DecryptWebPush opens a single-record aes128gcm body (RFC 8188 section 2,
// RFC 8291 section 3.4), the derivation written out with HMAC as the RFC
// writes it.
func DecryptWebPush(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("shorter than the header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if len(body) < 21+idlen {
		return nil, errors.New("key id cut short")
	}
	asPublic, ciphertext := body[21:21+idlen], body[21+idlen:]
	switch {
	case rs < 18:
		return nil, fmt.Errorf("record size %d below 18", rs)
	case len(ciphertext) > int(rs):
		return nil, fmt.Errorf("%d bytes of records, more than one record of %d", len(ciphertext), rs)
	case len(ciphertext) < 17:
		return nil, errors.New("record shorter than tag and delimiter")
	}
	peer, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, fmt.Errorf("key id is not a P-256 point: %w", err)
	}
	secret, err := ua.ECDH(peer)
	if err != nil {
		return nil, err
	}
	mac := func(key []byte, parts ...[]byte) []byte {
		m := hmac.New(sha256.New, key)
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	prkKey := mac(auth, secret)
	keyInfo := append(append([]byte("WebPush: info\x00"), ua.PublicKey().Bytes()...), asPublic...)
	ikm := mac(prkKey, keyInfo, []byte{1})
	prk := mac(salt, ikm)
	cek := mac(prk, []byte("Content-Encoding: aes128gcm\x00"), []byte{1})[:16]
	nonce := mac(prk, []byte("Content-Encoding: nonce\x00"), []byte{1})[:12]
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	record, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, err
	}
	end := len(record) - 1
	for end >= 0 && record[end] == 0 {
		end--
	}
	if end < 0 || record[end] != 2 {
		return nil, errors.New("no last-record delimiter 0x02")
	}
	return record[:end], nil
}

// VAPIDClaims are the JWT claims a push service checks.
type VAPIDClaims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// VerifyVAPID checks an Authorization header as a push service does
// (RFC 8292 sections 2 and 3): the token's ES256 signature under the key
// in k=, and its audience and expiry (within 24 hours). It returns k and
// the claims.
func VerifyVAPID(header, wantAud string, now time.Time) (string, VAPIDClaims, error) {
	var c VAPIDClaims
	params, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return "", c, errors.New("scheme is not vapid")
	}
	var t, k string
	for _, p := range strings.Split(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			t = value
		case "k":
			k = value
		}
	}
	rawKey, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return "", c, fmt.Errorf("k: %v", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err != nil {
		return "", c, fmt.Errorf("k: %v", err)
	}
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return "", c, fmt.Errorf("t has %d parts", len(parts))
	}
	seg := make([][]byte, 3)
	for i, p := range parts {
		if seg[i], err = base64.RawURLEncoding.DecodeString(p); err != nil {
			return "", c, fmt.Errorf("t part %d: %v", i, err)
		}
	}
	var h struct{ Typ, Alg string }
	if err := json.Unmarshal(seg[0], &h); err != nil || h.Typ != "JWT" || h.Alg != "ES256" {
		return "", c, fmt.Errorf("JWT header %s", seg[0])
	}
	if len(seg[2]) != 64 {
		return "", c, fmt.Errorf("signature of %d bytes, want r||s of 64", len(seg[2]))
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(seg[2][:32]), new(big.Int).SetBytes(seg[2][32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return "", c, errors.New("signature does not verify under k")
	}
	dec := json.NewDecoder(strings.NewReader(string(seg[1])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return "", c, fmt.Errorf("claims %s: %v", seg[1], err)
	}
	switch exp := time.Unix(c.Exp, 0); {
	case c.Aud != wantAud:
		return "", c, fmt.Errorf("aud %q, want %q", c.Aud, wantAud)
	case !exp.After(now):
		return "", c, fmt.Errorf("expired at %s", exp)
	case exp.After(now.Add(24 * time.Hour)):
		return "", c, fmt.Errorf("exp %s is more than 24 hours away", exp)
	case c.Sub == "":
		return "", c, errors.New("no sub")
	}
	return k, c, nil
}
