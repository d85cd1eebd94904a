package webpush

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// subJSON is a subscription as a browser's PushSubscription.toJSON()
// writes it, expirationTime included.
func subJSON(endpoint, p256dh, auth string) string {
	return fmt.Sprintf(`{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q}}`, endpoint, p256dh, auth)
}

const testEndpoint = "https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bHPRgkF"

func TestParseSubscriptionAcceptsWhatBrowsersSend(t *testing.T) {
	uaStd := base64.StdEncoding.EncodeToString(b64(t, rfc8291.uaPublic))
	authStd := base64.StdEncoding.EncodeToString(b64(t, rfc8291.auth))
	tests := []struct {
		name, json string
	}{
		{"Chrome", subJSON(testEndpoint, rfc8291.uaPublic, rfc8291.auth)},
		{"Safari", subJSON("https://web.push.apple.com/QGuQyavXutnMH9T5", rfc8291.uaPublic, rfc8291.auth)},
		{"padded standard base64", subJSON(testEndpoint, uaStd, authStd)},
		{"loopback http", subJSON("http://127.0.0.1:8080/push/1", rfc8291.uaPublic, rfc8291.auth)},
		{"localhost http", subJSON("http://localhost:8080/push/1", rfc8291.uaPublic, rfc8291.auth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSubscription([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			var raw struct {
				Endpoint string
				Keys     struct{ P256dh, Auth string }
			}
			json.Unmarshal([]byte(tt.json), &raw)
			if s.Endpoint != raw.Endpoint || s.P256dh != raw.Keys.P256dh || s.Auth != raw.Keys.Auth {
				t.Errorf("parsed %#v", s)
			}
		})
	}
}

func TestParseSubscriptionNamesTheField(t *testing.T) {
	compressed := append([]byte{2}, b64(t, rfc8291.uaPublic)[1:33]...)
	offCurve := b64(t, rfc8291.uaPublic)
	offCurve[64] ^= 1
	enc := base64.RawURLEncoding.EncodeToString
	ua, auth := rfc8291.uaPublic, rfc8291.auth
	tests := []struct {
		name, json, want string
	}{
		{"not JSON", `{"endpoint":`, "webpush: subscription: unexpected end of JSON input"},
		{"keys not an object", `{"endpoint":"https://a.example/","keys":"x"}`, "webpush: subscription: json: cannot unmarshal"},
		{"no endpoint", subJSON("", ua, auth), "webpush: subscription: endpoint: required"},
		{"plain http", subJSON("http://fcm.googleapis.com/fcm/send/x", ua, auth), "webpush: subscription: endpoint: must be https://"},
		{"http to a lookalike", subJSON("http://localhost.example.org/x", ua, auth), "webpush: subscription: endpoint: must be https://"},
		{"other scheme", subJSON("wss://push.example.net/x", ua, auth), "webpush: subscription: endpoint: scheme is not https"},
		{"relative", subJSON("/push/x", ua, auth), "webpush: subscription: endpoint: no host"},
		{"credentials", subJSON("https://u:p@push.example.net/x", ua, auth), "webpush: subscription: endpoint: must not hold credentials"},
		{"too long", subJSON("https://push.example.net/"+strings.Repeat("x", MaxEndpointLen), ua, auth), "webpush: subscription: endpoint: 2073 characters, at most 2048"},
		{"no p256dh", subJSON(testEndpoint, "", auth), "webpush: subscription: keys.p256dh: required"},
		{"p256dh not base64", subJSON(testEndpoint, "BCVx!!", auth), "webpush: subscription: keys.p256dh: not base64url"},
		{"p256dh compressed", subJSON(testEndpoint, enc(compressed), auth), "webpush: subscription: keys.p256dh: 33 bytes, want a 65-byte uncompressed P-256 point"},
		{"p256dh off the curve", subJSON(testEndpoint, enc(offCurve), auth), "webpush: subscription: keys.p256dh: not a point on P-256"},
		{"no auth", subJSON(testEndpoint, ua, ""), "webpush: subscription: keys.auth: required"},
		{"auth not base64", subJSON(testEndpoint, ua, "BTBZ*qHH6r4Tts7J_aSIgg"), "webpush: subscription: keys.auth: not base64url"},
		{"auth short", subJSON(testEndpoint, ua, "BTBZMqHH6r4Tts7J"), "webpush: subscription: keys.auth: 12 bytes, want 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSubscription([]byte(tt.json))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
			for _, secret := range []string{auth, "BTBZMqHH6r4Tts7J", "fcm/send", "u:p"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes %q", err, secret)
				}
			}
		})
	}
}

func TestSubscriptionJSONIsPushSubscriptionToJSON(t *testing.T) {
	s := Subscription{Endpoint: testEndpoint, P256dh: rfc8291.uaPublic, Auth: rfc8291.auth}
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"endpoint":"` + testEndpoint + `","keys":{"p256dh":"` + rfc8291.uaPublic + `","auth":"` + rfc8291.auth + `"}}`
	if string(raw) != want {
		t.Errorf("JSON\n%s\nwant\n%s", raw, want)
	}
	back, err := ParseSubscription(raw)
	if err != nil || back != s {
		t.Errorf("round trip %#v, %v", back, err)
	}
}

func TestSubscriptionPrintsAndLogsNoKeys(t *testing.T) {
	s := Subscription{Endpoint: testEndpoint, P256dh: rfc8291.uaPublic, Auth: rfc8291.auth}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("push", "sub", s)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("push", "sub", s)
	out := fmt.Sprintf("%v %+v %s", s, s, s) + logs.String()
	for _, secret := range []string{rfc8291.auth, rfc8291.uaPublic, "dQw4w9WgXcQ"} {
		if strings.Contains(out, secret) {
			t.Errorf("output holds %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "fcm.googleapis.com") {
		t.Errorf("output does not name the push service:\n%s", out)
	}
}

// FuzzParseSubscription: the portal hands this whatever a browser, or
// anyone, posts. It must not panic, and what it accepts must survive a
// round trip through its own JSON.
func FuzzParseSubscription(f *testing.F) {
	f.Add([]byte(subJSON(testEndpoint, rfc8291.uaPublic, rfc8291.auth)))
	f.Add([]byte(subJSON("http://[::1]:1/", rfc8291.asPublic, "AAAAAAAAAAAAAAAAAAAAAA==")))
	f.Add([]byte(`{"endpoint":"https://x","keys":{"p256dh":"BA","auth":""}}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSubscription(in)
		if err != nil {
			return
		}
		raw, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSubscription(raw)
		if err != nil || back != s {
			t.Fatalf("round trip of %q: %#v, %v", in, back, err)
		}
	})
}
