package twilio

import (
	"net/url"
	"testing"
)

// The example request from Twilio's documentation of request validation
// (twilio-php docs/usage/validation.rst; the same scheme as
// https://www.twilio.com/docs/usage/security#validating-requests).
const (
	docToken     = "12345"
	docURL       = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docSignature = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
)

func docForm() url.Values {
	return url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
}

func TestValidSignatureAcceptsTwilioDocumentationExample(t *testing.T) {
	if !ValidSignature(docToken, docURL, docForm(), docSignature) {
		t.Fatal("documented signature refused")
	}
	if got := Signature(docToken, docURL, docForm()); got != docSignature {
		t.Fatalf("Signature = %q, want %q", got, docSignature)
	}
}

func TestValidSignatureRefusesTampering(t *testing.T) {
	tampered := docForm()
	tampered.Set("Digits", "1235")
	extra := docForm()
	extra.Set("Extra", "x")
	tests := []struct {
		name, token, url string
		form             url.Values
		sig              string
	}{
		{"changed parameter", docToken, docURL, tampered, docSignature},
		{"added parameter", docToken, docURL, extra, docSignature},
		{"changed query", docToken, "https://mycompany.com/myapp.php?foo=1&bar=3", docForm(), docSignature},
		{"http instead of https", docToken, "http://mycompany.com/myapp.php?foo=1&bar=2", docForm(), docSignature},
		{"other token", "54321", docURL, docForm(), docSignature},
		{"empty token", "", docURL, docForm(), docSignature},
		{"empty signature", docToken, docURL, docForm(), ""},
		{"not base64", docToken, docURL, docForm(), "RSOYDt4T1cUTdK1PDd93/VVr8B8"},
		{"truncated", docToken, docURL, docForm(), "RSOYDt4T1cUTdK1P"},
	}
	for _, tt := range tests {
		if ValidSignature(tt.token, tt.url, tt.form, tt.sig) {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestValidSignatureToleratesDefaultPort(t *testing.T) {
	withPort := "https://mycompany.com:443/myapp.php?foo=1&bar=2"
	if !ValidSignature(docToken, withPort, docForm(), docSignature) {
		t.Error("URL with :443 refused for a signature over the URL without it")
	}
	sigWithPort := Signature(docToken, withPort, docForm())
	if !ValidSignature(docToken, docURL, docForm(), sigWithPort) {
		t.Error("URL without port refused for a signature over the URL with :443")
	}
	if ValidSignature(docToken, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", docForm(), docSignature) {
		t.Error("a different port accepted")
	}
}

func TestValidSignatureRepeatedParameters(t *testing.T) {
	a := url.Values{"Tag": {"b", "a"}, "Body": {"hi"}}
	b := url.Values{"Body": {"hi"}, "Tag": {"a", "b"}}
	sig := Signature("tok", "https://example.org/cb", a)
	if !ValidSignature("tok", "https://example.org/cb", b, sig) {
		t.Error("order of repeated values changed the signature")
	}
	if ValidSignature("tok", "https://example.org/cb", url.Values{"Body": {"hi"}, "Tag": {"a"}}, sig) {
		t.Error("dropping a repeated value kept the signature")
	}
}
