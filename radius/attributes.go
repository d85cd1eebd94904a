package radius

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// maxAttrValue is the largest value an attribute can carry: its length octet
// counts the two header octets too.
const maxAttrValue = 253

// vsaHeader is what a Vendor-Specific attribute spends before the vendor's
// own value: vendor id (4), vendor type (1), vendor length (1).
const vsaHeader = 6

// valueKind is how a configured text value becomes attribute octets.
type valueKind int

const (
	kindString   valueKind = iota // the text as UTF-8 octets
	kindOctets                    // the text, or hex octets when written 0x…
	kindInteger                   // decimal, or one of the attribute's named values
	kindIPAddr                    // dotted IPv4 address
	kindIPv6Addr                  // IPv6 address
	// kindTaggedInteger is an RFC 2868 tunnel attribute: a tag octet (0,
	// "no tag") and a 3-octet integer.
	kindTaggedInteger
)

func (k valueKind) String() string {
	switch k {
	case kindInteger, kindTaggedInteger:
		return "integer"
	case kindIPAddr:
		return "IPv4 address"
	case kindIPv6Addr:
		return "IPv6 address"
	case kindOctets:
		return "octets"
	default:
		return "string"
	}
}

// attrDef describes one reply attribute an operator may name in the
// configuration. Names and numbers are taken from the FreeRADIUS
// dictionaries, so an admin can copy names from a vendor's FreeRADIUS
// how-to unchanged.
type attrDef struct {
	name   string
	typ    radius.Type // 26 for vendor attributes
	vendor uint32      // 0 for standard attributes
	vtype  byte
	kind   valueKind
	values map[string]uint32 // named integer values, keys in lower case
}

var serviceTypes = map[string]uint32{
	"login-user": 1, "framed-user": 2, "callback-login-user": 3,
	"callback-framed-user": 4, "outbound-user": 5, "administrative-user": 6,
	"nas-prompt-user": 7, "authenticate-only": 8, "callback-nas-prompt": 9,
	"call-check": 10, "callback-administrative": 11,
}

var framedProtocols = map[string]uint32{
	"ppp": 1, "slip": 2, "arap": 3, "gandalf-slml": 4,
	"xylogics-ipx-slip": 5, "x.75-synchronous": 6,
}

// attrTable lists the reply attributes kakunin can send by name. It is
// deliberately small: attributes a RADIUS server puts in an Access-Accept
// for VPN gateways, firewalls and switches. Anything else can be sent with
// the generic form Vendor-Specific:<vendor-id>:<vendor-type>.
var attrTable = []attrDef{
	// RFC 2865
	{name: "Service-Type", typ: 6, kind: kindInteger, values: serviceTypes},
	{name: "Framed-Protocol", typ: 7, kind: kindInteger, values: framedProtocols},
	{name: "Framed-IP-Address", typ: 8, kind: kindIPAddr},
	{name: "Framed-IP-Netmask", typ: 9, kind: kindIPAddr},
	{name: "Framed-Routing", typ: 10, kind: kindInteger, values: map[string]uint32{
		"none": 0, "broadcast": 1, "listen": 2, "broadcast-listen": 3}},
	{name: "Filter-Id", typ: 11, kind: kindString},
	{name: "Framed-MTU", typ: 12, kind: kindInteger},
	{name: "Framed-Compression", typ: 13, kind: kindInteger, values: map[string]uint32{
		"none": 0, "van-jacobson-tcp-ip": 1, "ipx-header-compression": 2, "stac-lzs": 3}},
	{name: "Login-IP-Host", typ: 14, kind: kindIPAddr},
	{name: "Login-Service", typ: 15, kind: kindInteger},
	{name: "Login-TCP-Port", typ: 16, kind: kindInteger},
	{name: "Reply-Message", typ: 18, kind: kindString},
	{name: "Callback-Number", typ: 19, kind: kindString},
	{name: "Callback-Id", typ: 20, kind: kindString},
	{name: "Framed-Route", typ: 22, kind: kindString},
	{name: "Class", typ: 25, kind: kindOctets},
	{name: "Session-Timeout", typ: 27, kind: kindInteger},
	{name: "Idle-Timeout", typ: 28, kind: kindInteger},
	{name: "Termination-Action", typ: 29, kind: kindInteger, values: map[string]uint32{
		"default": 0, "radius-request": 1}},
	{name: "Port-Limit", typ: 62, kind: kindInteger},
	// RFC 2868 and RFC 3580: VLAN assignment.
	{name: "Tunnel-Type", typ: 64, kind: kindTaggedInteger, values: map[string]uint32{
		"pptp": 1, "l2f": 2, "l2tp": 3, "atmp": 4, "vtp": 5, "ah": 6, "ip": 7,
		"min-ip": 8, "esp": 9, "gre": 10, "dvs": 11, "ip-in-ip": 12, "vlan": 13}},
	{name: "Tunnel-Medium-Type", typ: 65, kind: kindTaggedInteger, values: map[string]uint32{
		"ipv4": 1, "ip": 1, "ipv6": 2, "nsap": 3, "hdlc": 4, "bbn-1822": 5, "ieee-802": 6,
		"e.163": 7, "e.164": 8, "f.69": 9, "x.121": 10, "ipx": 11, "appletalk": 12}},
	{name: "Tunnel-Private-Group-Id", typ: 81, kind: kindString},
	// RFC 2869
	{name: "Acct-Interim-Interval", typ: 85, kind: kindInteger},
	{name: "Framed-Pool", typ: 88, kind: kindString},
	// RFC 3162 and RFC 6911
	{name: "Framed-IPv6-Pool", typ: 100, kind: kindString},
	{name: "Framed-IPv6-Address", typ: 168, kind: kindIPv6Addr},
	{name: "DNS-Server-IPv6-Address", typ: 169, kind: kindIPv6Addr},

	// Vendor attributes (FreeRADIUS dictionary.<vendor>).
	{name: "Cisco-AVPair", typ: 26, vendor: 9, vtype: 1, kind: kindString},
	{name: "ASA-Group-Policy", typ: 26, vendor: 3076, vtype: 25, kind: kindString},
	{name: "Juniper-Local-User-Name", typ: 26, vendor: 2636, vtype: 1, kind: kindString},
	{name: "Juniper-Allow-Commands", typ: 26, vendor: 2636, vtype: 2, kind: kindString},
	{name: "Juniper-Deny-Commands", typ: 26, vendor: 2636, vtype: 3, kind: kindString},
	{name: "Fortinet-Group-Name", typ: 26, vendor: 12356, vtype: 1, kind: kindString},
	{name: "Fortinet-Vdom-Name", typ: 26, vendor: 12356, vtype: 3, kind: kindString},
	{name: "Fortinet-Access-Profile", typ: 26, vendor: 12356, vtype: 6, kind: kindString},
	{name: "PaloAlto-Admin-Role", typ: 26, vendor: 25461, vtype: 1, kind: kindString},
	{name: "PaloAlto-Admin-Access-Domain", typ: 26, vendor: 25461, vtype: 2, kind: kindString},
	{name: "PaloAlto-User-Group", typ: 26, vendor: 25461, vtype: 5, kind: kindString},
	{name: "Aruba-User-Role", typ: 26, vendor: 14823, vtype: 1, kind: kindString},
	{name: "Aruba-User-Vlan", typ: 26, vendor: 14823, vtype: 2, kind: kindInteger},
	{name: "Aruba-Admin-Role", typ: 26, vendor: 14823, vtype: 4, kind: kindString},
	{name: "Mikrotik-Group", typ: 26, vendor: 14988, vtype: 3, kind: kindString},
	{name: "Mikrotik-Rate-Limit", typ: 26, vendor: 14988, vtype: 8, kind: kindString},
	{name: "Mikrotik-Address-List", typ: 26, vendor: 14988, vtype: 19, kind: kindString},
}

// attrByName indexes attrTable by lower-case name: dictionary names are
// case-insensitive in FreeRADIUS, and admins copy them from there.
var attrByName = func() map[string]*attrDef {
	m := make(map[string]*attrDef, len(attrTable))
	for i := range attrTable {
		m[strings.ToLower(attrTable[i].name)] = &attrTable[i]
	}
	return m
}()

const genericVSAPrefix = "vendor-specific:"

// lookupAttribute finds the definition for a configured attribute name,
// including the generic form Vendor-Specific:<vendor-id>:<vendor-type>.
func lookupAttribute(name string) (*attrDef, error) {
	lower := strings.ToLower(strings.TrimSpace(name))
	if d, ok := attrByName[lower]; ok {
		return d, nil
	}
	if rest, ok := strings.CutPrefix(lower, genericVSAPrefix); ok {
		v, t, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, fmt.Errorf("attribute %q: want Vendor-Specific:<vendor-id>:<vendor-type>", name)
		}
		// The vendor id is an SMI enterprise number in the low 3 octets.
		vendor, err := strconv.ParseUint(v, 10, 32)
		if err != nil || vendor == 0 || vendor > 0xFFFFFF {
			return nil, fmt.Errorf("attribute %q: vendor id must be 1 to 16777215", name)
		}
		vtype, err := strconv.ParseUint(t, 10, 8)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: vendor type must be 0 to 255", name)
		}
		return &attrDef{name: name, typ: rfc2865.VendorSpecific_Type, vendor: uint32(vendor), vtype: byte(vtype), kind: kindOctets}, nil
	}
	return nil, fmt.Errorf("unknown attribute %q", name)
}

// encode turns a configured value into a ready-to-send attribute. It runs
// once at start-up; packets reuse the result.
func (d *attrDef) encode(value string) (*radius.AVP, error) {
	v, err := d.encodeValue(value)
	if err != nil {
		return nil, err
	}
	limit := maxAttrValue
	if d.vendor != 0 {
		limit -= vsaHeader
	}
	if len(v) > limit {
		return nil, fmt.Errorf("%d octets is too long for %s (at most %d)", len(v), d.name, limit)
	}
	if d.vendor == 0 {
		return &radius.AVP{Type: d.typ, Attribute: v}, nil
	}
	b := make([]byte, vsaHeader+len(v))
	binary.BigEndian.PutUint32(b, d.vendor)
	b[4] = d.vtype
	b[5] = byte(2 + len(v))
	copy(b[vsaHeader:], v)
	return &radius.AVP{Type: rfc2865.VendorSpecific_Type, Attribute: b}, nil
}

func (d *attrDef) encodeValue(value string) ([]byte, error) {
	switch d.kind {
	case kindInteger, kindTaggedInteger:
		n, ok := d.values[strings.ToLower(strings.TrimSpace(value))]
		if !ok {
			u, err := strconv.ParseUint(strings.TrimSpace(value), 10, 32)
			if err != nil {
				if len(d.values) > 0 {
					return nil, fmt.Errorf("%q is not an integer or a known %s value", value, d.name)
				}
				return nil, fmt.Errorf("%q is not an integer", value)
			}
			n = uint32(u)
		}
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, n)
		if d.kind == kindTaggedInteger {
			if n > 0xFFFFFF {
				return nil, fmt.Errorf("%d does not fit in 3 octets", n)
			}
			b[0] = 0 // tag 0: not part of a tunnel group
		}
		return b, nil
	case kindIPAddr:
		a, err := netip.ParseAddr(strings.TrimSpace(value))
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("%q is not an IPv4 address", value)
		}
		b := a.As4()
		return b[:], nil
	case kindIPv6Addr:
		a, err := netip.ParseAddr(strings.TrimSpace(value))
		if err != nil || !a.Is6() || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IPv6 address", value)
		}
		b := a.As16()
		return b[:], nil
	case kindOctets:
		if h, ok := strings.CutPrefix(value, "0x"); ok {
			b, err := hex.DecodeString(h)
			if err != nil {
				return nil, fmt.Errorf("%q is not valid hex after 0x", value)
			}
			if len(b) == 0 {
				return nil, errors.New("empty")
			}
			return b, nil
		}
	}
	if value == "" {
		return nil, errors.New("empty")
	}
	return []byte(value), nil
}

// splitText cuts a text into pieces of at most max octets without cutting
// a UTF-8 character, so that a NAS that concatenates Reply-Message
// attributes shows the text intact (a Japanese sentence is 3 octets a
// character and easily exceeds one attribute).
func splitText(s string, max int) []string {
	var out []string
	for len(s) > max {
		cut := max
		for cut > max-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if !utf8.RuneStart(s[cut]) {
			cut = max // not UTF-8: any cut is as good as another
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// replyMessages turns texts into Reply-Message attributes.
func replyMessages(texts []string) radius.Attributes {
	var attrs radius.Attributes
	for _, t := range texts {
		for _, part := range splitText(t, maxAttrValue) {
			attrs = append(attrs, &radius.AVP{Type: rfc2865.ReplyMessage_Type, Attribute: radius.Attribute(part)})
		}
	}
	return attrs
}

// firstRDNValue returns the value of a DN's first RDN ("vpn-staff" for
// "cn=vpn-staff,ou=groups,dc=example,dc=org"), or "" when s is not a DN.
// Escapes (RFC 4514) are undone so "cn=a\,b,…" gives "a,b".
func firstRDNValue(s string) string {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 || strings.ContainsAny(s[:eq], ",+\\") {
		return ""
	}
	var b strings.Builder
	for i := eq + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			h, _ := hex.DecodeString(s[i+1 : i+3])
			b.Write(h)
			i += 2
		case c == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		case c == ',' || c == '+':
			return strings.TrimSpace(b.String())
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// groupRule is one group_attributes entry, resolved.
type groupRule struct {
	group string
	attrs radius.Attributes
}

// groupAttributes returns the attributes of every rule whose group matches
// one of the user's groups, in configuration order (so the reply does not
// depend on the order the directory lists groups in).
func groupAttributes(rules []groupRule, groups []string) radius.Attributes {
	if len(rules) == 0 || len(groups) == 0 {
		return nil
	}
	rdns := make([]string, len(groups))
	for i, g := range groups {
		rdns[i] = firstRDNValue(g)
	}
	var out radius.Attributes
	for _, r := range rules {
		for i, g := range groups {
			if strings.EqualFold(r.group, g) || (rdns[i] != "" && strings.EqualFold(r.group, rdns[i])) {
				out = append(out, r.attrs...)
				break
			}
		}
	}
	return out
}
