// Package console is the SMS "provider" of `kakunin demo`: it prints each
// message, code included, as one marked line on a writer (the terminal)
// instead of sending it, so the demo works without an SMS account.
//
// It must never be used in production: the one-time code would go to a log
// instead of the user's phone, where anyone who can read the log can sign
// in as the user. Only the demo command may construct it; the serve
// command's configuration offers twilio and webhook and nothing else.
package console
