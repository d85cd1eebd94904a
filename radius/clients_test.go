package radius

import (
	"net/netip"
	"testing"
)

func TestClientLongestPrefixMatch(t *testing.T) {
	tab := &clientTable{}
	for _, e := range []struct{ prefix, client string }{
		{"10.0.0.0/8", "campus"},
		{"10.1.0.0/16", "building-1"},
		{"10.1.2.3", "core-switch"},
		{"2001:db8::/32", "v6-campus"},
		{"2001:db8:1::/48", "v6-building"},
		{"::ffff:192.0.2.0/120", "mapped-written"},
	} {
		p, err := parseClientPrefix(e.prefix)
		if err != nil {
			t.Fatal(err)
		}
		tab.add(p, &client{name: e.client})
	}
	for _, tc := range []struct{ addr, want string }{
		{"10.9.9.9", "campus"},
		{"10.1.9.9", "building-1"},
		{"10.1.2.3", "core-switch"},
		{"10.1.2.4", "building-1"},
		{"::ffff:10.1.2.3", "core-switch"}, // IPv4 on a dual-stack socket
		{"2001:db8:2::1", "v6-campus"},
		{"2001:db8:1::1", "v6-building"},
		{"fe80::1%eth0", ""},
		{"192.0.2.7", "mapped-written"},
		{"11.0.0.1", ""},
		{"2001:db9::1", ""},
	} {
		got := ""
		if c := tab.lookup(netip.MustParseAddr(tc.addr)); c != nil {
			got = c.name
		}
		if got != tc.want {
			t.Errorf("%s → %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestClientAddressZoneRefused(t *testing.T) {
	if _, err := parseClientPrefix("fe80::1%eth0"); err == nil {
		t.Error("an address with a zone was accepted")
	}
}
