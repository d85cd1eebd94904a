// Package webpush sends Web Push messages (RFC 8030) to a browser's push
// subscription: the way kakunin asks for a sign-in approval on a phone where
// the enrollment portal is installed as a web app.
//
// A message is encrypted for the browser with the subscription's keys
// (RFC 8291, content coding aes128gcm of RFC 8188) and carries a VAPID
// token (RFC 8292) signed with the server's key, whose public half the
// portal gave the browser as applicationServerKey when it subscribed. The
// push service in between (Google's, Mozilla's, Apple's) sees only the
// ciphertext, the TTL, the urgency and the topic.
//
//	v, err := webpush.NewVAPID(privateKey, "mailto:it@example.ac.jp")
//	s := webpush.New(v, nil)
//	err = s.Send(ctx, sub, payload, webpush.Options{Urgency: webpush.UrgencyHigh})
//	if errors.Is(err, webpush.ErrGone) { /* delete sub */ }
//
// The package uses the standard library alone, so every byte that leaves
// the server is built in this folder (encrypt.go, vapid.go, send.go), and
// the tests fake a push service as an httptest.Server that checks the token
// and decrypts the body as a browser would.
//
// It knows HTTP, the Web Push wire format and the subscription's JSON, and
// nothing of RADIUS, the flow, the store or what the payload means. Its
// errors name the push service's host, never the subscription's endpoint
// path (which addresses one browser), its auth secret, the VAPID private
// key or the payload.
package webpush
