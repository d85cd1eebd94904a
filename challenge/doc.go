// Package challenge is the authentication flow: the user's password against
// the directory, then a second factor read from the store. It returns a
// Decision (accept, reject or challenge) and knows nothing of packets or
// HTTP.
package challenge
