package demodir

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func yamadaEntry(t *testing.T) *entry {
	t.Helper()
	for _, e := range buildTree(testUsers(), "service-password") {
		if e.name == userDN(yamadaID) {
			return e
		}
	}
	t.Fatal("no entry for yamada")
	return nil
}

func TestFilterEvaluation(t *testing.T) {
	e := yamadaEntry(t)
	staff := "cn=vpn-staff,ou=groups,dc=demo,dc=kakunin"
	tests := []struct {
		filter string
		want   ternary
	}{
		// equality, case-insensitive in type and value
		{"(uid=2024000001)", matchTrue},
		{"(UID=2024000001)", matchTrue},
		{"(userid=2024000001)", matchTrue},
		{"(0.9.2342.19200300.100.1.1=2024000001)", matchTrue},
		{"(uid=2024000002)", matchFalse},
		{"(objectClass=inetOrgPerson)", matchTrue},
		{"(objectclass=INETORGPERSON)", matchTrue},
		{"(objectClass=person)", matchTrue},
		{"(objectClass=groupOfNames)", matchFalse},
		{"(mail=Taro.Yamada@STAFF.univ.example)", matchTrue},
		{"(cn=山田 太郎)", matchTrue},
		{"(cn=  山田   太郎 )", matchTrue}, // insignificant spaces
		{"(cn=山田太郎)", matchFalse},
		{"(cn~=山田 太郎)", matchTrue}, // approximate is equality here

		// telephoneNumberMatch ignores spaces and hyphens
		{"(telephoneNumber=+819000000001)", matchTrue},
		{"(telephoneNumber=+81 90-0000-0001)", matchTrue},
		{"(telephoneNumber=+819000000002)", matchFalse},

		// distinguishedNameMatch
		{"(memberOf=" + staff + ")", matchTrue},
		{"(memberOf=CN=VPN-Staff, OU=groups, DC=demo, DC=kakunin)", matchTrue},
		{"(memberOf=cn=vpn-admins,ou=groups,dc=demo,dc=kakunin)", matchFalse},
		{"(memberOf=not a dn)", matchUndefined},
		{"(memberOf=vpn*)", matchUndefined}, // no substrings rule for DNs

		// presence
		{"(objectClass=*)", matchTrue},
		{"(telephoneNumber=*)", matchTrue},
		{"(member=*)", matchFalse},
		{"(userPassword=*)", matchFalse},
		{"(noSuchAttribute=*)", matchFalse},

		// substrings
		{"(uid=2024*)", matchTrue},
		{"(uid=*0001)", matchTrue},
		{"(uid=*4000*)", matchTrue},
		{"(uid=2*0*0*1)", matchTrue},
		{"(uid=2024*2024)", matchFalse}, // initial and final must not overlap
		{"(uid=*0002)", matchFalse},
		{"(cn=山田*)", matchTrue},
		{"(mail=TARO*@staff*)", matchTrue},
		{"(telephoneNumber=+81 90*)", matchTrue},

		// unknown types and unsupported rules are Undefined
		{"(noSuchAttribute=x)", matchUndefined},
		{"(cn;lang-ja=山田 太郎)", matchUndefined},
		{"(uid>=2024000000)", matchUndefined},
		{"(uid<=2024999999)", matchUndefined},
		{"(uid:caseExactMatch:=2024000001)", matchUndefined},

		// and, or, not under three-valued logic
		{"(&(objectClass=inetOrgPerson)(uid=2024000001))", matchTrue},
		{"(&(objectClass=inetOrgPerson)(uid=2024000002))", matchFalse},
		{"(&(uid=2024000001)(noSuchAttribute=x))", matchUndefined},
		{"(&(uid=2024000002)(noSuchAttribute=x))", matchFalse},
		{"(|(uid=2024000002)(uid=2024000001))", matchTrue},
		{"(|(uid=2024000002)(noSuchAttribute=x))", matchUndefined},
		{"(|(uid=2024000001)(noSuchAttribute=x))", matchTrue},
		{"(!(uid=2024000002))", matchTrue},
		{"(!(uid=2024000001))", matchFalse},
		{"(!(noSuchAttribute=x))", matchUndefined},
		{"(&)", matchTrue},
		{"(|)", matchFalse},

		// escaped values are values, not syntax
		{`(uid=\2a)`, matchFalse},
		{`(uid=2024000001\2a)`, matchFalse},
		{`(cn=\e5\b1\b1\e7\94\b0 \e5\a4\aa\e9\83\8e)`, matchTrue},
	}
	for _, tt := range tests {
		f, err := ldap.CompileFilter(tt.filter)
		if err != nil {
			t.Errorf("%s: compile: %v", tt.filter, err)
			continue
		}
		if got := evaluate(f, e); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

// gldap hands the handler a filter decompiled from the wire; compiling it
// again must give back the same filter, values included.
func TestFilterSurvivesDecompileAndCompile(t *testing.T) {
	e := yamadaEntry(t)
	for _, value := range []string{yamadaID, "*", "a)(b", `\`, "\x00", "山田 太郎"} {
		filter := "(|(uid=" + ldap.EscapeFilter(value) + ")(cn=" + ldap.EscapeFilter(value) + "))"
		wire, err := ldap.CompileFilter(filter)
		if err != nil {
			t.Fatalf("%q: %v", value, err)
		}
		text, err := ldap.DecompileFilter(wire)
		if err != nil {
			t.Fatalf("%q: decompile: %v", value, err)
		}
		again, err := ldap.CompileFilter(text)
		if err != nil {
			t.Fatalf("%q: recompile %q: %v", value, text, err)
		}
		want := matchFalse
		if value == yamadaID || value == "山田 太郎" {
			want = matchTrue
		}
		if got := evaluate(again, e); got != want {
			t.Errorf("%q via %q = %v, want %v", value, text, got, want)
		}
	}
}

func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"(&(objectClass=inetOrgPerson)(uid=2024000001))",
		"(|(cn=*a*b*)(!(mail=*)))",
		"(memberOf=cn=vpn-staff,ou=groups,dc=demo,dc=kakunin)",
		`(uid=\2a\00)`,
		"(uid:dn:2.5.13.2:=x)",
	} {
		f.Add(s)
	}
	tree := buildTree(testUsers(), "service-password")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ldap.CompileFilter(s)
		if err != nil {
			return
		}
		for _, e := range tree {
			switch evaluate(p, e) {
			case matchTrue, matchFalse, matchUndefined:
			default:
				t.Fatalf("%q: not a ternary value", s)
			}
		}
	})
}
