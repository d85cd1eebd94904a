package webpush

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
	"strings"
	"sync"
	"testing"
	"time"
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

// decrypt opens an aes128gcm body as a browser does (RFC 8188 section 2,
// RFC 8291 section 3.4), written out with HMAC as the RFC writes it rather
// than through the package's own derivation, so that the round trip checks
// one implementation against another. Only single-record bodies, which is
// all Send makes.
func decrypt(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("shorter than the header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if len(body) < 21+idlen {
		return nil, errors.New("key id cut short")
	}
	asPublic := body[21 : 21+idlen]
	ciphertext := body[21+idlen:]
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
	ecdhSecret, err := ua.ECDH(peer)
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
	// RFC 8291 section 3.4, in its own notation.
	prkKey := mac(auth, ecdhSecret)
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
	// Padding is zeros after the delimiter; the last record's is 0x02.
	end := len(record) - 1
	for end >= 0 && record[end] == 0 {
		end--
	}
	if end < 0 || record[end] != 2 {
		return nil, errors.New("no last-record delimiter 0x02")
	}
	return record[:end], nil
}

// vapidClaims are the JWT claims a push service checks.
type vapidClaims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// verifyVAPID checks an Authorization header as a push service does
// (RFC 8292 sections 2 and 3): the token's ES256 signature under the key
// in k=, and its audience and expiry. It returns k and the claims.
func verifyVAPID(header, wantAud string, now time.Time) (string, vapidClaims, error) {
	var c vapidClaims
	params, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return "", c, fmt.Errorf("scheme is not vapid")
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
	claims    vapidClaims
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
