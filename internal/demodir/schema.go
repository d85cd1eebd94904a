package demodir

import (
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// matching is the equality (and substrings) rule of an attribute type.
type matching int

const (
	// caseIgnore is caseIgnoreMatch / caseIgnoreIA5Match: case and
	// insignificant spaces do not matter.
	caseIgnore matching = iota
	// telephone is telephoneNumberMatch: spaces and hyphens do not matter.
	telephone
	// dnMatch is distinguishedNameMatch; there is no substrings rule.
	dnMatch
)

// attrType is the part of an attribute type's schema the demo needs.
type attrType struct {
	name        string // the canonical name, returned in search results
	oid         string
	aliases     []string
	match       matching
	operational bool // returned only when asked for by name or with "+"
}

// The attribute types of the demo's entries, with the names and OIDs of
// OpenLDAP's core, cosine, inetorgperson and memberof schemas.
var (
	attrObjectClass          = &attrType{name: "objectClass", oid: "2.5.4.0"}
	attrUID                  = &attrType{name: "uid", oid: "0.9.2342.19200300.100.1.1", aliases: []string{"userid"}}
	attrCN                   = &attrType{name: "cn", oid: "2.5.4.3", aliases: []string{"commonName"}}
	attrSN                   = &attrType{name: "sn", oid: "2.5.4.4", aliases: []string{"surname"}}
	attrDisplayName          = &attrType{name: "displayName", oid: "2.16.840.1.113730.3.1.241"}
	attrMail                 = &attrType{name: "mail", oid: "0.9.2342.19200300.100.1.3", aliases: []string{"rfc822Mailbox"}}
	attrTelephoneNumber      = &attrType{name: "telephoneNumber", oid: "2.5.4.20", match: telephone}
	attrMember               = &attrType{name: "member", oid: "2.5.4.31", match: dnMatch}
	attrMemberOf             = &attrType{name: "memberOf", oid: "1.2.840.113556.1.2.102", match: dnMatch, operational: true}
	attrOU                   = &attrType{name: "ou", oid: "2.5.4.11", aliases: []string{"organizationalUnitName"}}
	attrO                    = &attrType{name: "o", oid: "2.5.4.10", aliases: []string{"organizationName"}}
	attrDC                   = &attrType{name: "dc", oid: "0.9.2342.19200300.100.1.25", aliases: []string{"domainComponent"}}
	attrNamingContexts       = &attrType{name: "namingContexts", oid: "1.3.6.1.4.1.1466.101.120.5", match: dnMatch, operational: true}
	attrSupportedLDAPVersion = &attrType{name: "supportedLDAPVersion", oid: "1.3.6.1.4.1.1466.101.120.15", operational: true}
)

var schema = []*attrType{
	attrObjectClass, attrUID, attrCN, attrSN, attrDisplayName, attrMail,
	attrTelephoneNumber, attrMember, attrMemberOf, attrOU, attrO, attrDC,
	attrNamingContexts, attrSupportedLDAPVersion,
}

// lookupAttr finds an attribute type by name, alias or OID, ignoring case.
// An unknown type, or one with options ("cn;lang-ja"), is nil.
func lookupAttr(desc string) *attrType {
	for _, t := range schema {
		if strings.EqualFold(desc, t.name) || desc == t.oid {
			return t
		}
		for _, a := range t.aliases {
			if strings.EqualFold(desc, a) {
				return t
			}
		}
	}
	return nil
}

// normalize prepares a value or an assertion for comparison under t's
// rule. For a substrings component (part) leading and trailing spaces are
// kept, since they separate it from its neighbours.
func (t *attrType) normalize(s string, part bool) string {
	switch t.match {
	case telephone:
		return strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(s))
	default:
		if !part {
			s = strings.Join(strings.Fields(s), " ")
		}
		return strings.ToLower(s)
	}
}

// equal reports whether value matches an equality assertion. For a DN
// the caller has checked the assertion's syntax.
func (t *attrType) equal(value, assertion string) bool {
	if t.match == dnMatch {
		a, err := ldap.ParseDN(assertion)
		if err != nil {
			return false
		}
		v, err := ldap.ParseDN(value)
		return err == nil && a.EqualFold(v)
	}
	return t.normalize(value, false) == t.normalize(assertion, false)
}
