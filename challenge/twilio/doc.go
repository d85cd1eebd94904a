// Package twilio sends kakunin's one-time codes through Twilio's
// Programmable Messaging API (POST /2010-04-01/Accounts/{sid}/Messages.json)
// and checks the X-Twilio-Signature that Twilio puts on its callbacks.
//
// It implements challenge.SMSSender with the standard library alone, so the
// request that leaves the server is visible in one place (sms.go) and the
// tests can fake Twilio as an httptest.Server. Voice calls will live here
// too, beside the shared Config.
//
// The package knows Twilio's HTTP API and nothing of the flow, the store or
// RADIUS. Its errors carry Twilio's status, code and message, never the
// message body (it holds the code), the auth token or the full number.
package twilio
