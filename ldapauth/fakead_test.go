package ldapauth

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"
)

// fakeAD stands in for Active Directory where OpenLDAP cannot: a simple
// bind names the account by its user principal name, or by a down-level
// logon name (NETBIOS\sAMAccountName), as AD accepts. Any bound
// connection may search every entry; filters of and, or, not, equality
// and presence are evaluated, case-insensitively. It records the
// searches it serves.
type fakeAD struct {
	URL       string
	BaseDN    string
	ServiceDN string
	Password  string // the service account's

	netbios string
	entries []fakeEntry
	srv     *gldap.Server

	mu       sync.Mutex
	bound    map[int]string // connection → the DN it is bound as
	searches []fakeSearch
}

type fakeEntry struct {
	dn       string
	password string
	attrs    map[string][]string // lower-case names
}

type fakeSearch struct {
	boundAs, base, filter string
}

func (e fakeEntry) get(attr string) []string { return e.attrs[strings.ToLower(attr)] }

// startFakeAD serves entries (their attribute names in lower case) for
// the duration of the test.
func startFakeAD(t *testing.T, netbios string, entries ...fakeEntry) *fakeAD {
	t.Helper()
	ad := &fakeAD{
		BaseDN:    "DC=example,DC=ac,DC=jp",
		ServiceDN: "CN=svc-kakunin,OU=Service Accounts,DC=example,DC=ac,DC=jp",
		Password:  "svc-secret",
		netbios:   netbios,
		bound:     map[int]string{},
	}
	ad.entries = append([]fakeEntry{{dn: ad.ServiceDN, password: ad.Password, attrs: map[string][]string{"objectclass": {"user"}}}}, entries...)

	mux, err := gldap.NewMux()
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{mux.Bind(ad.bind), mux.Search(ad.search), mux.Unbind(func(*gldap.ResponseWriter, *gldap.Request) {})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ad.srv, err = gldap.NewServer(gldap.WithLogger(hclog.New(&hclog.LoggerOptions{Output: io.Discard})))
	if err != nil {
		t.Fatal(err)
	}
	if err := ad.srv.Router(mux); err != nil {
		t.Fatal(err)
	}
	addr := closedPort(t)
	ran := make(chan error, 1)
	go func() { ran <- ad.srv.Run(addr) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-ran:
			t.Fatalf("fake AD: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fake AD not listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ad.URL = "ldap://" + addr
	t.Cleanup(func() {
		stopped := make(chan struct{})
		go func() { ad.srv.Stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Log("fake AD: Stop did not return")
		}
	})
	return ad
}

func (ad *fakeAD) bind(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewBindResponse(gldap.WithResponseCode(gldap.ResultInvalidCredentials))
	defer w.Write(resp)
	ad.mu.Lock()
	defer ad.mu.Unlock()
	delete(ad.bound, r.ConnectionID())
	m, err := r.GetSimpleBindMessage()
	if err != nil || m.Password == "" {
		return
	}
	name := m.UserName
	for _, e := range ad.entries {
		match := strings.EqualFold(name, e.dn)
		for _, upn := range e.get("userPrincipalName") {
			match = match || strings.EqualFold(name, upn)
		}
		if dom, sam, ok := strings.Cut(name, `\`); ok && strings.EqualFold(dom, ad.netbios) {
			for _, v := range e.get("sAMAccountName") {
				match = match || strings.EqualFold(sam, v)
			}
		}
		if match && string(m.Password) == e.password {
			ad.bound[r.ConnectionID()] = e.dn
			resp.SetResultCode(gldap.ResultSuccess)
			return
		}
	}
}

func (ad *fakeAD) search(w *gldap.ResponseWriter, r *gldap.Request) {
	done := r.NewSearchDoneResponse(gldap.WithResponseCode(gldap.ResultSuccess))
	defer w.Write(done)
	m, err := r.GetSearchMessage()
	if err != nil {
		done.SetResultCode(gldap.ResultProtocolError)
		return
	}
	ad.mu.Lock()
	boundAs, ok := ad.bound[r.ConnectionID()]
	ad.searches = append(ad.searches, fakeSearch{boundAs, m.BaseDN, m.Filter})
	ad.mu.Unlock()
	if !ok {
		done.SetResultCode(gldap.ResultInsufficientAccessRights)
		return
	}
	filter, err := ldap.CompileFilter(m.Filter)
	if err != nil {
		done.SetResultCode(gldap.ResultProtocolError)
		return
	}
	sent := 0
	for _, e := range ad.entries {
		inScope := strings.EqualFold(e.dn, m.BaseDN) ||
			m.Scope == gldap.WholeSubtree && strings.HasSuffix(strings.ToLower(e.dn), ","+strings.ToLower(m.BaseDN))
		if !inScope || !fakeMatch(filter, e) {
			continue
		}
		if m.SizeLimit > 0 && int64(sent) == m.SizeLimit {
			done.SetResultCode(gldap.ResultSizeLimitExceeded)
			return
		}
		res := r.NewSearchResponseEntry(e.dn)
		for _, a := range m.Attributes {
			if v := e.get(a); len(v) > 0 {
				res.AddAttribute(a, v)
			}
		}
		w.Write(res)
		sent++
	}
}

func fakeMatch(f *ber.Packet, e fakeEntry) bool {
	str := func(p *ber.Packet) string {
		if s, ok := p.Value.(string); ok {
			return s
		}
		return p.Data.String()
	}
	switch f.Tag {
	case ldap.FilterAnd:
		for _, c := range f.Children {
			if !fakeMatch(c, e) {
				return false
			}
		}
		return true
	case ldap.FilterOr:
		for _, c := range f.Children {
			if fakeMatch(c, e) {
				return true
			}
		}
		return false
	case ldap.FilterNot:
		return !fakeMatch(f.Children[0], e)
	case ldap.FilterEqualityMatch:
		for _, v := range e.get(str(f.Children[0])) {
			if strings.EqualFold(v, str(f.Children[1])) {
				return true
			}
		}
		return false
	case ldap.FilterPresent:
		return len(e.get(str(f))) > 0
	}
	return false
}

// Searches returns the searches served so far.
func (ad *fakeAD) Searches() []fakeSearch {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	return append([]fakeSearch(nil), ad.searches...)
}
