// Package portal is the self-service enrollment web app: users sign in
// with their ID and password (and a code once they have an app), apply for
// MFA, set up an authenticator app and manage their sign-in methods, in
// Japanese or English.
//
// It writes what the RADIUS server reads, through the same store and the
// same help-desk operations (challenge.Admin, actor "portal"), and checks
// passwords and codes through the engine so that lockouts and single-use
// codes are shared with RADIUS. Sessions live in the store (every node
// sees them); the cookie carries only a random token.
//
// With Web Push configured it is also the phone's push-capable app:
// installed on the home screen (manifest, service worker), it registers
// the browser's push subscription as a push method, and its service worker
// shows the approvals the engine sends (push.go).
//
// With a mailer (portal.smtp; package mail) users register a notification
// email, verified by a mailed code and never a way to sign in, and every
// change is mailed to it in the user's language in the background
// (email.go); MailHelpDeskChange mails the help desk's changes the same
// way.
//
// It knows HTTP, HTML and the session; it knows nothing of RADIUS, LDAP or
// SQL.
package portal
