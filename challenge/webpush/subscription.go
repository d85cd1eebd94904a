package webpush

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
)

// Subscription is where and for whom a message is encrypted: a browser's
// PushSubscription. Its JSON is that of PushSubscription.toJSON(),
//
//	{"endpoint":"https://…","keys":{"p256dh":"BCVx…","auth":"BTBZ…"}}
//
// so the portal can store what the browser posted and hand it back. Auth
// is a secret shared with the browser alone: Subscription prints and logs
// without it.
type Subscription struct {
	Endpoint string // the push service's URL for this browser
	P256dh   string // the browser's ECDH public key, base64url, 65-byte uncompressed P-256 point
	Auth     string // the browser's authentication secret, base64url, 16 bytes
}

// MaxEndpointLen bounds the endpoint a subscription may carry. Real ones
// are a few hundred characters; the bound keeps a hostile page from
// making the portal store megabytes.
const MaxEndpointLen = 2048

type subscriptionJSON struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// MarshalJSON writes the form of PushSubscription.toJSON().
func (s Subscription) MarshalJSON() ([]byte, error) {
	var j subscriptionJSON
	j.Endpoint, j.Keys.P256dh, j.Keys.Auth = s.Endpoint, s.P256dh, s.Auth
	return json.Marshal(j)
}

// UnmarshalJSON reads the form of PushSubscription.toJSON(), ignoring
// members it does not use (expirationTime). It does not validate: use
// ParseSubscription for input from a browser.
func (s *Subscription) UnmarshalJSON(b []byte) error {
	var j subscriptionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Subscription{Endpoint: j.Endpoint, P256dh: j.Keys.P256dh, Auth: j.Keys.Auth}
	return nil
}

// ParseSubscription decodes the JSON of PushSubscription.toJSON() and
// checks it: the endpoint is an https URL (http only to a loopback
// address, for tests), p256dh a point on P-256 and auth 16 bytes. The keys
// may be base64url, as browsers send them, or standard base64, padded or
// not. Errors name the field and never quote its value.
func ParseSubscription(b []byte) (Subscription, error) {
	var s Subscription
	if err := json.Unmarshal(b, &s); err != nil {
		// The message of a *json.SyntaxError or *json.UnmarshalTypeError
		// names a position or a type, not the input.
		return Subscription{}, fmt.Errorf("webpush: subscription: %w", err)
	}
	if _, err := s.parse(); err != nil {
		return Subscription{}, fmt.Errorf("webpush: subscription: %w", err)
	}
	return s, nil
}

// keys is a subscription decoded and checked.
type keys struct {
	endpoint *url.URL
	p256dh   *ecdh.PublicKey
	auth     []byte
}

// parse checks s; its errors start with the field's name.
func (s Subscription) parse() (keys, error) {
	u, err := checkEndpoint(s.Endpoint)
	if err != nil {
		return keys{}, fieldError("endpoint", err)
	}
	pub, err := parseP256dh(s.P256dh)
	if err != nil {
		return keys{}, fieldError("keys.p256dh", err)
	}
	auth, err := decodeBase64(s.Auth)
	switch {
	case s.Auth == "":
		return keys{}, fieldError("keys.auth", errors.New("required"))
	case err != nil:
		return keys{}, fieldError("keys.auth", err)
	case len(auth) != 16:
		return keys{}, fieldError("keys.auth", fmt.Errorf("%d bytes, want 16", len(auth)))
	}
	return keys{endpoint: u, p256dh: pub, auth: auth}, nil
}

func fieldError(field string, err error) error {
	return fmt.Errorf("%s: %w", field, err)
}

// checkEndpoint refuses plain http beyond this machine (the push service
// would see the VAPID token and the metadata in clear) and credentials in
// the URL. The URL itself is never quoted: it addresses one browser.
func checkEndpoint(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	if len(s) > MaxEndpointLen {
		return nil, fmt.Errorf("%d characters, at most %d", len(s), MaxEndpointLen)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Host == "":
		return nil, errors.New("no host")
	case u.User != nil:
		return nil, errors.New("must not hold credentials")
	case u.Fragment != "":
		return nil, errors.New("must not have a fragment")
	case u.Scheme == "https":
		return u, nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return u, nil
	case u.Scheme == "http":
		return nil, errors.New("must be https:// (plain http only to a loopback address)")
	}
	return nil, errors.New("scheme is not https")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseP256dh(s string) (*ecdh.PublicKey, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	b, err := decodeBase64(s)
	switch {
	case err != nil:
		return nil, err
	case len(b) != 65 || b[0] != 4:
		return nil, fmt.Errorf("%d bytes, want a 65-byte uncompressed P-256 point", len(b))
	}
	pub, err := ecdh.P256().NewPublicKey(b)
	if err != nil {
		return nil, errors.New("not a point on P-256")
	}
	return pub, nil
}

// decodeBase64 takes base64url, as browsers and the web-push tools write
// keys, and standard base64, as some libraries store them; padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	return b, nil
}

func encodeBase64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// String shows the push service's host only: the endpoint's path addresses
// one browser, and auth is a secret.
func (s Subscription) String() string {
	return "webpush.Subscription{" + s.host() + "}"
}

// LogValue keeps the keys out of slog records, whatever the handler.
func (s Subscription) LogValue() slog.Value {
	return slog.GroupValue(slog.String("push_service", s.host()))
}

func (s Subscription) host() string {
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Host == "" {
		return "invalid endpoint"
	}
	return u.Host
}
