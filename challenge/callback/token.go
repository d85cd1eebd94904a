package callback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"kakunin/challenge"
)

// Signer makes and checks the signed callback URLs (challenge.Callbacks).
type Signer struct {
	base string // public URL without a trailing slash
	key  []byte
}

// NewSigner signs URLs under publicURL with key.
func NewSigner(publicURL string, key []byte) *Signer {
	return &Signer{base: strings.TrimRight(publicURL, "/"), key: key}
}

// URL is publicURL/v1/KIND/ID.EXPIRY.MAC.
func (s *Signer) URL(kind challenge.CallbackKind, id string, expires time.Time) string {
	return s.base + "/v1/" + string(kind) + "/" + s.token(kind, id, expires.Unix())
}

func (s *Signer) token(kind challenge.CallbackKind, id string, exp int64) string {
	e := strconv.FormatInt(exp, 10)
	return id + "." + e + "." + s.mac(kind, id, e)
}

func (s *Signer) mac(kind challenge.CallbackKind, id, exp string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("kakunin/callback\x00" + string(kind) + "\x00" + id + "\x00" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

var (
	errBadToken = errors.New("bad token")
	errExpired  = errors.New("token expired")
)

// verify returns the approval ID a token of this kind names, unless it is
// forged or of another kind (errBadToken), or expired at now (errExpired,
// with the ID: the token was ours).
func (s *Signer) verify(kind challenge.CallbackKind, token string, now time.Time) (string, error) {
	id, rest, ok1 := strings.Cut(token, ".")
	exp, mac, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || id == "" {
		return "", errBadToken
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(kind, id, exp))) {
		return "", errBadToken
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", errBadToken
	}
	if !now.Before(time.Unix(e, 0)) {
		return id, errExpired
	}
	return id, nil
}

// callbackURL is the URL a provider was given for this path, as it signs
// it: the public URL, not what the request's Host says behind a proxy.
func (s *Signer) callbackURL(path string) string {
	return s.base + path
}
