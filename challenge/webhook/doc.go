// Package webhook sends kakunin's one-time codes to an organisation's own
// SMS gateway, and push and call requests to its push and telephony
// gateways: one signed JSON POST over HTTPS per message.
//
// The request is
//
//	POST {url}
//	Content-Type: application/json
//	X-Kakunin-Timestamp: 1767225600
//	X-Kakunin-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
//	{"to":"+819012345678","body":"…","id":"<32 hex digits>","timestamp":1767225600}
//
// and any 2xx answer means the gateway accepted the message. A receiver
// checks the request with Verify, refuses timestamps outside a few minutes
// and remembers ids for that long to refuse replays.
//
// Push and call requests to an organisation's push and telephony gateways,
// and the decisions those gateways post back, are about one approval: they
// are signed over its ID and purpose too (SignApproval, VerifyApproval),
//
//	sha256=<hex HMAC-SHA256(secret, timestamp + "." + id + "." + purpose + "." + body)>
//
// with purpose "push" or "call", so a decision signed for one approval or
// one channel decides no other. ReadDecision checks a decision and, with
// Replays, refuses an exact copy of one already taken.
//
// The package knows HTTP and this wire format, nothing of the flow. Its
// errors never hold the message body (it holds the code), the secret or the
// phone number.
package webhook
