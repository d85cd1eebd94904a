// Package demodir is the small, read-only LDAP directory that `kakunin demo`
// runs in-process, so that kakunin can be tried without an OpenLDAP or an
// Active Directory at hand. It is for the demo only and must never serve a
// real deployment: its users and their passwords come from a file shipped
// in the binary (configs/demo-users.yaml), anyone who reads that file can
// sign in as them, and it speaks plain ldap:// without TLS.
//
// It imitates what kakunin's ldapauth client meets at an OpenLDAP server
// configured like the one internal/testenv starts:
//
//	dc=demo,dc=kakunin                          dcObject, organization
//	├─ ou=people                                organizationalUnit
//	│  └─ uid=<10-digit ID>                     inetOrgPerson: uid, cn, sn, displayName,
//	│                                           mail, telephoneNumber, memberOf (operational)
//	├─ ou=groups
//	│  └─ cn=<group>                            groupOfNames: cn, member
//	└─ ou=services
//	   └─ cn=kakunin                            the service account; its password is
//	                                            generated at start (Directory.BindPassword)
//
// Access control follows that server's ACLs: an anonymous connection may
// bind and read the root DSE, and every other search is refused with
// insufficientAccessRights (50); the service account reads every entry; a
// user reads only its own entry. A wrong password is invalidCredentials
// (49), and a DN with an empty password (an "unauthenticated bind") is
// unwillingToPerform (53), never a success. Passwords are never returned
// and never logged. Writes are refused, and so is StartTLS (unavailable,
// 52). As at OpenLDAP, memberOf is an operational attribute: it is returned
// when asked for by name or with "+", not with "*".
//
// Searches take the base, one-level, subtree and children scopes, and
// return at most 50 entries (fewer if the client asks), ending with
// sizeLimitExceeded (4) when more match. Filters are parsed with go-ldap's
// filter compiler and evaluated with LDAP's three-valued logic: and, or,
// not, equality, approximate (treated as equality), presence and
// substrings, with caseIgnoreMatch for names and mail,
// telephoneNumberMatch (spaces and hyphens ignored) for telephoneNumber,
// and distinguishedNameMatch for member and memberOf. Ordering (>=, <=)
// and extensible matches evaluate to Undefined, so they select nothing, as
// on a server without those matching rules.
//
// demodir knows nothing of RADIUS, the store or the second factor; kakunin
// reaches it through ldapauth like any other directory.
package demodir
