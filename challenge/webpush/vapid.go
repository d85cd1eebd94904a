package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// VAPID is the application server's identity (RFC 8292): an ECDSA P-256
// key whose public half the browser was given as applicationServerKey when
// it subscribed, and a contact for the push service's operators. A push
// service refuses messages for that subscription signed by any other key.
type VAPID struct {
	key     *ecdsa.PrivateKey
	public  string // base64url of the uncompressed point
	subject string
}

// tokenLifetime is how long a token is valid. RFC 8292 allows at most 24
// hours; half that leaves room for a clock that runs ahead of the push
// service's.
const tokenLifetime = 12 * time.Hour

// GenerateVAPID makes a new key pair in the form the web-push tools and
// browsers use: priv is the 32-byte private scalar and pub the 65-byte
// uncompressed public point, both base64url without padding. Keep priv
// secret and stable: a new key orphans every subscription made with the
// old one.
func GenerateVAPID() (priv, pub string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("webpush: generate VAPID key: %w", err)
	}
	d, err := k.Bytes()
	if err != nil {
		return "", "", fmt.Errorf("webpush: generate VAPID key: %w", err)
	}
	p, err := k.PublicKey.Bytes()
	if err != nil {
		return "", "", fmt.Errorf("webpush: generate VAPID key: %w", err)
	}
	return encodeBase64(d), encodeBase64(p), nil
}

// NewVAPID takes a private key as GenerateVAPID writes it (standard base64
// and padding are tolerated) and a subject, a mailto: address or an https
// URL where the push service's operators can reach whoever runs kakunin.
// Errors never quote the key.
func NewVAPID(privateKey, subject string) (*VAPID, error) {
	if privateKey == "" {
		return nil, errors.New("webpush: vapid private key: required")
	}
	d, err := decodeBase64(privateKey)
	if err != nil {
		return nil, fmt.Errorf("webpush: vapid private key: %w", err)
	}
	if len(d) != 32 {
		return nil, fmt.Errorf("webpush: vapid private key: %d bytes, want 32", len(d))
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, errors.New("webpush: vapid private key: not a P-256 private key")
	}
	if err := checkSubject(subject); err != nil {
		return nil, fmt.Errorf("webpush: vapid subject: %w", err)
	}
	p, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, errors.New("webpush: vapid private key: not a P-256 private key")
	}
	return &VAPID{key: k, public: encodeBase64(p), subject: subject}, nil
}

func checkSubject(s string) error {
	if s == "" {
		return errors.New("required (mailto: or https://)")
	}
	if addr, ok := strings.CutPrefix(s, "mailto:"); ok {
		if !strings.Contains(addr, "@") {
			return errors.New("mailto: needs an address")
		}
		return nil
	}
	if !strings.HasPrefix(s, "https://") {
		return errors.New("must start with mailto: or https://")
	}
	if u, err := url.Parse(s); err != nil || u.Host == "" {
		return errors.New("https:// URL has no host")
	}
	return nil
}

// PublicKey is the applicationServerKey the portal passes to
// pushManager.subscribe(): base64url of the uncompressed point.
func (v *VAPID) PublicKey() string { return v.public }

// String and GoString show the public key and subject only, so a VAPID
// printed by mistake does not print the private key.
func (v *VAPID) String() string {
	return fmt.Sprintf("webpush.VAPID{k=%s, sub=%s}", v.public, v.subject)
}

func (v *VAPID) GoString() string { return v.String() }

// authorization is the Authorization header for a request to endpoint:
// "vapid t=<JWT>, k=<public key>" (RFC 8292 section 3).
func (v *VAPID) authorization(endpoint *url.URL, now time.Time) (string, error) {
	t, err := v.token(origin(endpoint), now)
	if err != nil {
		return "", err
	}
	return "vapid t=" + t + ", k=" + v.public, nil
}

// token is a JWT signed with ES256 whose audience is the push service's
// origin, so a token seen by one push service is useless at another.
func (v *VAPID) token(aud string, now time.Time) (string, error) {
	header, _ := json.Marshal(struct {
		Typ string `json:"typ"`
		Alg string `json:"alg"`
	}{"JWT", "ES256"})
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{aud, now.Add(tokenLifetime).Unix(), v.subject})
	if err != nil {
		return "", fmt.Errorf("webpush: vapid token: %w", err)
	}
	input := encodeBase64(header) + "." + encodeBase64(claims)
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, v.key, h[:])
	if err != nil {
		return "", fmt.Errorf("webpush: vapid token: %w", err)
	}
	// JWS (RFC 7518 section 3.4) wants r and s as two 32-byte big-endian
	// integers, not the ASN.1 sequence of SignASN1.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + encodeBase64(sig), nil
}

// origin is the ASCII serialisation of u's origin (RFC 6454): scheme and
// host, with the port only when it is not the scheme's default.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && p != defaultPort[scheme] {
		return scheme + "://" + net.JoinHostPort(host, p)
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

var defaultPort = map[string]string{"https": "443", "http": "80"}
