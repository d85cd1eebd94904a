package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
)

// ValidSignature reports whether signature, the X-Twilio-Signature header
// of a callback, is Twilio's HMAC-SHA1 (keyed with the auth token) of
// callbackURL followed by every POST parameter, sorted by name, written as
// name then value with no separators; base64-encoded.
//
// callbackURL must be the URL exactly as Twilio called it, scheme, host and
// query string included: behind a TLS-terminating proxy, rebuild it from
// the configured public URL, not from the request's Host. As Twilio's own
// libraries do, the URL is also tried with the scheme's default port added
// or removed, because Twilio signs whichever form it was given.
//
// form holds the POST parameters only (r.PostForm, not r.Form, which mixes
// in the query string). Callbacks with a JSON body (signed through a
// bodySHA256 query parameter) are not covered.
func ValidSignature(authToken, callbackURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	ok := false
	for _, u := range urlForms(callbackURL) {
		// Compare every candidate: no early exit on a match.
		if hmac.Equal(got, sign(authToken, u, form)) {
			ok = true
		}
	}
	return ok
}

// Signature computes the X-Twilio-Signature for a request to callbackURL
// with the given POST parameters (tests, and fakes of Twilio).
func Signature(authToken, callbackURL string, form url.Values) string {
	return base64.StdEncoding.EncodeToString(sign(authToken, callbackURL, form))
}

func sign(authToken, callbackURL string, form url.Values) []byte {
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(callbackURL))
	for _, k := range slices.Sorted(maps.Keys(form)) {
		// A repeated parameter contributes each value, in sorted order
		// (as twilio-python and twilio-node do).
		for _, v := range slices.Sorted(slices.Values(form[k])) {
			m.Write([]byte(k))
			m.Write([]byte(v))
		}
	}
	return m.Sum(nil)
}

// urlForms is callbackURL as given, then with its default port toggled.
func urlForms(callbackURL string) []string {
	forms := []string{callbackURL}
	u, err := url.Parse(callbackURL)
	if err != nil || u.Host == "" {
		return forms
	}
	def := map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
	if def == "" {
		return forms
	}
	switch u.Port() {
	case "":
		u.Host = net.JoinHostPort(u.Hostname(), def)
	case def:
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") { // IPv6 literal
			u.Host = "[" + u.Host + "]"
		}
	default:
		return forms
	}
	return append(forms, u.String())
}
