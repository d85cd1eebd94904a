// Package mail sends the portal's plain-text mails (the code that verifies
// a notification address, and change notifications) through an SMTP
// server, over TLS unless the server is on this host. It knows nothing of
// users, methods or languages: callers give it an address, a subject and a
// body. It never logs a subject or a body (they hold codes).
package mail
