package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestSlapdStarts(t *testing.T) {
	s := SlapdT(t, SlapdOptions{
		Users: 3,
		TLS:   true,
		ExtraLDIF: `dn: ou=contractors,` + slapdBaseDN + `
objectClass: organizationalUnit
ou: contractors

dn: uid=c1,ou=contractors,` + slapdBaseDN + `
objectClass: inetOrgPerson
uid: c1
cn: Contractor One
sn: One
userPassword: c1-pass

dn: cn=vpn-staff,ou=groups,` + slapdBaseDN + `
changetype: modify
add: member
member: uid=c1,ou=contractors,` + slapdBaseDN + `
`,
	})

	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in CAFile")
	}
	tlsConfig := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	dialer := ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second})

	plain, err := ldap.DialURL(s.URL, dialer)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetTimeout(5 * time.Second)
	if err := plain.StartTLS(tlsConfig); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	ldaps, err := ldap.DialURL(s.LDAPSURL, dialer, ldap.DialWithTLSConfig(tlsConfig))
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	defer ldaps.Close()
	ldaps.SetTimeout(5 * time.Second)

	t.Run("ServiceFindsUserWithGroups", func(t *testing.T) {
		if err := ldaps.Bind(s.ServiceDN, s.ServicePassword); err != nil {
			t.Fatal(err)
		}
		res, err := ldaps.Search(ldap.NewSearchRequest(s.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(&(objectClass=inetOrgPerson)(uid="+UserID(1)+"))", []string{"mail", "telephoneNumber", "memberOf"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Entries) != 1 {
			t.Fatalf("found %d entries, want 1", len(res.Entries))
		}
		e := res.Entries[0]
		if e.DN != UserDN(1) || e.GetAttributeValue("mail") != UserMail(1) || e.GetAttributeValue("telephoneNumber") != UserPhone(1) {
			t.Errorf("entry %s mail %q phone %q", e.DN, e.GetAttributeValue("mail"), e.GetAttributeValue("telephoneNumber"))
		}
		groups := e.GetAttributeValues("memberOf")
		if !slices.Contains(groups, s.VPNStaffDN) || !slices.Contains(groups, s.VPNAdminsDN) {
			t.Errorf("memberOf = %q, want vpn-staff and vpn-admins", groups)
		}
	})

	t.Run("UserBindsAndReadsOwnEntry", func(t *testing.T) {
		if err := plain.Bind(UserDN(2), UserPassword(2)); err != nil {
			t.Fatal(err)
		}
		res, err := plain.Search(ldap.NewSearchRequest(UserDN(2), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"memberOf"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Entries) != 1 || !slices.Equal(res.Entries[0].GetAttributeValues("memberOf"), []string{s.VPNStaffDN}) {
			t.Errorf("own entry: %+v", res.Entries)
		}
		if err := plain.Bind(UserDN(2), "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Errorf("wrong password: %v, want invalid credentials", err)
		}
	})

	t.Run("ExtraLDIFAppliedWithMemberOf", func(t *testing.T) {
		dn := "uid=c1,ou=contractors," + s.BaseDN
		if err := plain.Bind(dn, "c1-pass"); err != nil {
			t.Fatal(err)
		}
		if err := ldaps.Bind(s.ServiceDN, s.ServicePassword); err != nil {
			t.Fatal(err)
		}
		res, err := ldaps.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"memberOf"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Entries) != 1 || !slices.Equal(res.Entries[0].GetAttributeValues("memberOf"), []string{s.VPNStaffDN}) {
			t.Errorf("contractor entry: %+v", res.Entries)
		}
	})

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.URL[len("ldap://"):], time.Second); err == nil {
		t.Error("slapd still accepts connections after Stop")
	}
}
