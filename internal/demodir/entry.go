package demodir

import (
	"crypto/sha256"
	"fmt"
	"sort"

	"github.com/go-ldap/ldap/v3"
)

// The demo's naming context and the containers below it.
const (
	baseDN     = "dc=demo,dc=kakunin"
	peopleDN   = "ou=people," + baseDN
	groupsDN   = "ou=groups," + baseDN
	servicesDN = "ou=services," + baseDN
	serviceDN  = "cn=kakunin," + servicesDN
)

// attr is one attribute of an entry.
type attr struct {
	t      *attrType
	values []string
}

// entry is one entry of the directory. Entries are built once at Start
// and never change, so handlers read them without locks.
type entry struct {
	dn    *ldap.DN
	name  string // the DN as returned in results
	attrs []attr

	// password is the SHA-256 of the bind password of a user or the
	// service account; nil for entries one cannot bind as.
	password []byte
}

func (e *entry) values(t *attrType) []string {
	for _, a := range e.attrs {
		if a.t == t {
			return a.values
		}
	}
	return nil
}

// selectAttributes is the attribute selection of a search (RFC 4511
// section 4.5.1.8): no list or "*" is every user attribute, "+" every
// operational one, a name or OID that attribute, "1.1" alone none.
// Unknown names are ignored.
func (e *entry) selectAttributes(requested []string) []attr {
	users, operational := len(requested) == 0, false
	named := make(map[*attrType]bool, len(requested))
	for _, r := range requested {
		switch r {
		case "*":
			users = true
		case "+":
			operational = true
		default:
			if t := lookupAttr(r); t != nil {
				named[t] = true
			}
		}
	}
	var out []attr
	for _, a := range e.attrs {
		if named[a.t] || (a.t.operational && operational) || (!a.t.operational && users) {
			out = append(out, a)
		}
	}
	return out
}

func newEntry(dn string, attrs ...attr) *entry {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		// Every DN here is built from validated parts.
		panic(fmt.Sprintf("demodir: invalid built-in DN %q: %v", dn, err))
	}
	var kept []attr
	for _, a := range attrs {
		if len(a.values) > 0 {
			kept = append(kept, a)
		}
	}
	return &entry{dn: parsed, name: dn, attrs: kept}
}

func userDN(id string) string { return "uid=" + ldap.EscapeDN(id) + "," + peopleDN }

func groupDN(name string) string { return "cn=" + ldap.EscapeDN(name) + "," + groupsDN }

func digest(password string) []byte {
	d := sha256.Sum256([]byte(password))
	return d[:]
}

// buildTree lays out the directory for validated users: the base entry,
// the three containers, the service account, one groupOfNames per group
// named by any user, then the users.
func buildTree(users []User, servicePassword string) []*entry {
	tree := []*entry{
		newEntry(baseDN,
			attr{attrObjectClass, []string{"top", "dcObject", "organization"}},
			attr{attrDC, []string{"demo"}},
			attr{attrO, []string{"kakunin demo"}}),
		newEntry(peopleDN,
			attr{attrObjectClass, []string{"top", "organizationalUnit"}},
			attr{attrOU, []string{"people"}}),
		newEntry(groupsDN,
			attr{attrObjectClass, []string{"top", "organizationalUnit"}},
			attr{attrOU, []string{"groups"}}),
		newEntry(servicesDN,
			attr{attrObjectClass, []string{"top", "organizationalUnit"}},
			attr{attrOU, []string{"services"}}),
	}

	service := newEntry(serviceDN,
		attr{attrObjectClass, []string{"top", "organizationalRole", "simpleSecurityObject"}},
		attr{attrCN, []string{"kakunin"}})
	service.password = digest(servicePassword)
	tree = append(tree, service)

	members := make(map[string][]string)
	for _, u := range users {
		for _, g := range u.Groups {
			members[g] = append(members[g], userDN(u.ID))
		}
	}
	groups := make([]string, 0, len(members))
	for g := range members {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		tree = append(tree, newEntry(groupDN(g),
			attr{attrObjectClass, []string{"top", "groupOfNames"}},
			attr{attrCN, []string{g}},
			attr{attrMember, members[g]}))
	}

	for _, u := range users {
		var memberOf []string
		for _, g := range u.Groups {
			memberOf = append(memberOf, groupDN(g))
		}
		var mail, phone []string
		if u.Mail != "" {
			mail = []string{u.Mail}
		}
		if u.Phone != "" {
			phone = []string{u.Phone}
		}
		// inetOrgPerson requires sn; the demo has no separate family
		// name, so sn repeats the display name.
		e := newEntry(userDN(u.ID),
			attr{attrObjectClass, []string{"top", "person", "organizationalPerson", "inetOrgPerson"}},
			attr{attrUID, []string{u.ID}},
			attr{attrCN, []string{u.Name}},
			attr{attrSN, []string{u.Name}},
			attr{attrDisplayName, []string{u.Name}},
			attr{attrMail, mail},
			attr{attrTelephoneNumber, phone},
			attr{attrMemberOf, memberOf})
		e.password = digest(u.Password)
		tree = append(tree, e)
	}
	return tree
}

// rootDSE is the entry with the empty DN that describes the server.
func rootDSE() *entry {
	return newEntry("",
		attr{attrObjectClass, []string{"top"}},
		attr{attrNamingContexts, []string{baseDN}},
		attr{attrSupportedLDAPVersion, []string{"3"}})
}
