// Package radius is kakunin's RADIUS transport: it listens on UDP, maps each
// packet's source to a configured NAS client, verifies the Request
// Authenticator and Message-Authenticator (RFC 2865, RFC 3579, BlastRADIUS),
// answers retransmits from a cache (RFC 5080), and hands authentic
// Access-Requests to an Authenticator as plain Go values.
//
// It knows nothing of LDAP, TOTP or SQL.
package radius
