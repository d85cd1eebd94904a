// Package ldapauth checks a user's password against an LDAP directory
// (OpenLDAP, Active Directory), checks membership of a required group, and
// reads attributes such as the user's phone number.
//
// A login is search-then-bind: the service account finds the user's entry
// with a filter, then a bind with the user's DN and password checks the
// password. Because the directory is on the path of every VPN login, a
// Directory does less than that where it safely can:
//
//   - connections are pooled: one pool bound once as the service account,
//     one whose connections are rebound by each user's bind;
//   - a user's DN is cached after the first search, so later logins are a
//     single bind; a bind refused with a cached DN searches again, and
//     binds again only if the DN changed, so the directory's lockout sees
//     each wrong password once;
//   - with bind_template there is no search at all;
//   - groups and attributes are read only when configured, from the entry
//     the search just returned or, after a bind with a cached DN or a
//     bind_template, by a read as the service account (never as the user,
//     whose own access rights may hide memberOf or a phone number). The
//     read re-checks user_filter on a cached DN, and finds the entry of a
//     principal-name bind by user_filter and the principal together.
//
// Every operation is bounded by the configured timeout and by the
// caller's context. Servers are tried in the configured order; one that
// fails is skipped for a short back-off, which only an LDAP answer ends
// (a TCP connection proves nothing). A user's bind that had no answer at
// all is tried on the next server; a bind that got any answer never is,
// so a wrong password reaches the directory once. Ping probes every
// server on its own connection and leaves the back-off alone.
//
// An unknown user costs the directory what a wrong password costs: after
// a search that finds no entry, the password is bound to a DN under
// base_dn that no entry has (random per process, so no real account is
// touched), and the name is then remembered like a cached DN, so that the
// next try is a bind and a search, as for a cached user. The order and
// kind of operations do not tell the two apart.
//
// Outcomes are three sentinel errors: ErrInvalidCredentials (whatever the
// reason: wrong password, unknown user, locked account; the log says
// which), ErrNotAllowed and ErrUnavailable. A wrong password is told from
// a broken directory by the LDAP result code, never by the message.
//
// The package knows the directory and nothing else: no RADIUS, no second
// factor, no store.
package ldapauth
