package demodir

import (
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// ternary is the value of a filter under LDAP's three-valued logic (RFC
// 4511 section 4.5.1.7). A search returns an entry only when its filter is
// matchTrue; matchUndefined (an unknown attribute type, an assertion the
// attribute has no rule for) survives negation, so (!(foo=x)) selects
// nothing, as at OpenLDAP.
type ternary int8

const (
	matchFalse ternary = iota
	matchTrue
	matchUndefined
)

func ternaryOf(b bool) ternary {
	if b {
		return matchTrue
	}
	return matchFalse
}

// evaluate reports whether entry e matches filter f.
func evaluate(f *ber.Packet, e *entry) ternary {
	if f == nil || f.ClassType != ber.ClassContext {
		return matchUndefined
	}
	switch f.Tag {
	case ldap.FilterAnd:
		r := matchTrue // (&) is true (RFC 4526)
		for _, c := range f.Children {
			switch evaluate(c, e) {
			case matchFalse:
				return matchFalse
			case matchUndefined:
				r = matchUndefined
			}
		}
		return r
	case ldap.FilterOr:
		r := matchFalse // (|) is false (RFC 4526)
		for _, c := range f.Children {
			switch evaluate(c, e) {
			case matchTrue:
				return matchTrue
			case matchUndefined:
				r = matchUndefined
			}
		}
		return r
	case ldap.FilterNot:
		if len(f.Children) != 1 {
			return matchUndefined
		}
		switch evaluate(f.Children[0], e) {
		case matchTrue:
			return matchFalse
		case matchFalse:
			return matchTrue
		}
		return matchUndefined
	case ldap.FilterPresent:
		// An unknown type is simply absent: FALSE, not Undefined.
		t := lookupAttr(octets(f))
		return ternaryOf(t != nil && len(e.values(t)) > 0)
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch:
		if len(f.Children) != 2 {
			return matchUndefined
		}
		t := lookupAttr(octets(f.Children[0]))
		if t == nil {
			return matchUndefined
		}
		assertion := octets(f.Children[1])
		if t.match == dnMatch {
			if _, err := ldap.ParseDN(assertion); err != nil {
				return matchUndefined // invalid assertion syntax
			}
		}
		for _, v := range e.values(t) {
			if t.equal(v, assertion) {
				return matchTrue
			}
		}
		return matchFalse
	case ldap.FilterSubstrings:
		if len(f.Children) != 2 {
			return matchUndefined
		}
		t := lookupAttr(octets(f.Children[0]))
		if t == nil || t.match == dnMatch {
			return matchUndefined
		}
		for _, v := range e.values(t) {
			if r := substrings(t, v, f.Children[1].Children); r != matchFalse {
				return r
			}
		}
		return matchFalse
	default:
		// greaterOrEqual, lessOrEqual: no ordering rules here.
		// extensibleMatch: no matching rules by OID here.
		return matchUndefined
	}
}

// substrings matches value against initial, any and final components.
func substrings(t *attrType, value string, parts []*ber.Packet) ternary {
	rest := t.normalize(value, false)
	for i, p := range parts {
		s := t.normalize(octets(p), true)
		switch p.Tag {
		case ldap.FilterSubstringsInitial:
			if i != 0 {
				return matchUndefined // malformed: initial must come first
			}
			if !strings.HasPrefix(rest, s) {
				return matchFalse
			}
			rest = rest[len(s):]
		case ldap.FilterSubstringsAny:
			k := strings.Index(rest, s)
			if k < 0 {
				return matchFalse
			}
			rest = rest[k+len(s):]
		case ldap.FilterSubstringsFinal:
			if i != len(parts)-1 {
				return matchUndefined // malformed: final must come last
			}
			if !strings.HasSuffix(rest, s) {
				return matchFalse
			}
		default:
			return matchUndefined
		}
	}
	return matchTrue
}

// octets is the content of a primitive BER element as a string.
func octets(p *ber.Packet) string {
	if p == nil || p.Data == nil {
		return ""
	}
	return string(p.Data.Bytes())
}

func (t ternary) String() string {
	switch t {
	case matchTrue:
		return "TRUE"
	case matchFalse:
		return "FALSE"
	default:
		return "Undefined"
	}
}
