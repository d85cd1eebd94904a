// Package callback serves the URLs on which push and voice approvals are
// decided: the approval page a phone opens from a notification (and the
// demo's keypad for calls), a push gateway's signed decision, and
// Twilio's key-press and call-status callbacks.
//
// Every URL carries a token that names one approval, one purpose and an
// expiry, signed with HMAC-SHA256 under the configured signing key, so a
// URL cannot be guessed, reused for another approval or another purpose,
// or used after the approval expired. Deciding is single use: the first
// answer counts, on whichever node it arrives; duplicates and late
// callbacks change nothing (the store decides once).
//
// The package knows HTTP and the providers' callback formats; what an
// answer means for the sign-in is challenge.Engine's.
package callback
