package radius

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"kakunin/challenge"
)

func TestAttributeEncoding(t *testing.T) {
	cases := []struct {
		name, value string
		typ         radius.Type
		want        []byte
	}{
		{"Session-Timeout", "28800", 27, []byte{0, 0, 0x70, 0x80}},
		{"session-timeout", "1", 27, []byte{0, 0, 0, 1}}, // names are case-insensitive
		{"Service-Type", "Framed-User", 6, []byte{0, 0, 0, 2}},
		{"Service-Type", "administrative-user", 6, []byte{0, 0, 0, 6}},
		{"Service-Type", "8", 6, []byte{0, 0, 0, 8}},
		{"Framed-IP-Address", "192.0.2.1", 8, []byte{192, 0, 2, 1}},
		{"Framed-IPv6-Address", "2001:db8::1", 168, append([]byte{0x20, 0x01, 0x0d, 0xb8}, append(make([]byte, 11), 1)...)},
		{"Class", "OU=vpn;", 25, []byte("OU=vpn;")},
		{"Class", "0x0102ff", 25, []byte{1, 2, 0xff}},
		{"Filter-Id", "0x12", 11, []byte("0x12")}, // a string is never hex
		{"Tunnel-Type", "VLAN", 64, []byte{0, 0, 0, 13}},
		{"Tunnel-Medium-Type", "IEEE-802", 65, []byte{0, 0, 0, 6}},
		{"Tunnel-Private-Group-Id", "100", 81, []byte("100")},
		{"Cisco-AVPair", "shell:priv-lvl=15", 26, append([]byte{0, 0, 0, 9, 1, 19}, "shell:priv-lvl=15"...)},
		{"Fortinet-Group-Name", "admins", 26, append([]byte{0, 0, 0x30, 0x44, 1, 8}, "admins"...)},
		{"Juniper-Local-User-Name", "ro", 26, append([]byte{0, 0, 0x0a, 0x4c, 1, 4}, "ro"...)},
		{"Aruba-User-Vlan", "20", 26, []byte{0, 0, 0x39, 0xe7, 2, 6, 0, 0, 0, 20}},
		{"Vendor-Specific:25461:1", "superuser", 26, append([]byte{0, 0, 0x63, 0x75, 1, 11}, "superuser"...)},
		{"Vendor-Specific:9:1", "0x6162", 26, []byte{0, 0, 0, 9, 1, 4, 'a', 'b'}},
	}
	for _, tc := range cases {
		d, err := lookupAttribute(tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		avp, err := d.encode(tc.value)
		if err != nil {
			t.Errorf("%s = %s: %v", tc.name, tc.value, err)
			continue
		}
		if avp.Type != tc.typ || !bytes.Equal(avp.Attribute, tc.want) {
			t.Errorf("%s = %s: type %d % x, want type %d % x", tc.name, tc.value, avp.Type, avp.Attribute, tc.typ, tc.want)
		}
	}
}

func TestAttributeValuesRefused(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"Session-Timeout", "-1"},
		{"Session-Timeout", "4294967296"},
		{"Service-Type", "Superuser"},
		{"Framed-IP-Address", "192.0.2.300"},
		{"Framed-IPv6-Address", "192.0.2.1"},
		{"Tunnel-Type", "16777216"},
		{"Filter-Id", ""},
		{"Class", "0x"},
		{"Class", strings.Repeat("x", 254)},
		{"Vendor-Specific:0:1", "x"},
		{"Vendor-Specific:16777216:1", "x"},
		{"Vendor-Specific:9:256", "x"},
	} {
		d, err := lookupAttribute(tc.name)
		if err == nil {
			_, err = d.encode(tc.value)
		}
		if err == nil {
			t.Errorf("%s = %q was accepted", tc.name, tc.value)
		}
	}
}

func TestReplyMessageSplitUTF8(t *testing.T) {
	ja := strings.Repeat("ワンタイムパスワードを入力してください。", 20) // 3 octets a character
	mixed := "a" + strings.Repeat("🔐é", 100)         // 4- and 2-octet characters, offset by one
	for _, text := range []string{ja, mixed, strings.Repeat("x", 600), "short"} {
		parts := splitText(text, 253)
		if strings.Join(parts, "") != text {
			t.Errorf("parts do not join back to the text")
		}
		for i, p := range parts {
			if len(p) > 253 || len(p) == 0 {
				t.Errorf("part %d has %d octets", i, len(p))
			}
			if !utf8.ValidString(p) {
				t.Errorf("part %d cuts a character: %q…", i, p[len(p)-3:])
			}
		}
	}
	// Not UTF-8 at all: still cut, and nothing lost.
	bin := string(bytes.Repeat([]byte{0x80}, 600))
	if parts := splitText(bin, 253); strings.Join(parts, "") != bin || len(parts) != 3 {
		t.Errorf("invalid UTF-8 split into %d parts", len(parts))
	}

	// End to end: the NAS gets each piece as its own Reply-Message.
	auth := &stubAuth{fn: func(context.Context, *challenge.Request) challenge.Decision {
		return challenge.Decision{Outcome: challenge.Reject, Messages: []string{ja, "次へ"}}
	}}
	ts := startServer(t, testConfig(), auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
	p, _ := n.exchange(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true))
	msgs := replyMessagesOf(p)
	if strings.Join(msgs, "") != ja+"次へ" || len(msgs) != len(splitText(ja, 253))+1 {
		t.Errorf("got %d Reply-Messages", len(msgs))
	}
	for _, m := range msgs {
		if !utf8.ValidString(m) {
			t.Errorf("a Reply-Message cuts a character")
		}
	}
}

func TestFirstRDNValue(t *testing.T) {
	for in, want := range map[string]string{
		"cn=vpn-staff,ou=groups,dc=example,dc=org": "vpn-staff",
		"CN=VPN Staff, OU=Groups":                  "VPN Staff",
		`cn=a\,b,ou=x`:                             "a,b",
		`cn=caf\c3\a9,ou=x`:                        "café",
		"cn=solo":                                  "solo",
		"cn=x+uid=y,ou=z":                          "x",
		"vpn-staff":                                "",
		"a,b=c":                                    "",
	} {
		if got := firstRDNValue(in); got != want {
			t.Errorf("firstRDNValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGroupAttributes(t *testing.T) {
	cfg := testConfig()
	cfg.Clients[0].ReplyAttributes = []Attribute{{Name: "Session-Timeout", Value: "3600"}}
	cfg.GroupAttributes = []GroupAttributes{
		{Group: "vpn-staff", Attributes: []Attribute{{Name: "Filter-Id", Value: "staff"}}},
		{Group: "CN=VPN-Admins,OU=Groups,DC=example,DC=org", Attributes: []Attribute{{Name: "Filter-Id", Value: "admins"}}},
		{Group: "contractors", Attributes: []Attribute{{Name: "Filter-Id", Value: "contractors"}}},
	}
	cases := []struct {
		name   string
		groups []string
		want   []string
	}{
		{"first RDN, any case", []string{"cn=VPN-Staff,ou=groups,dc=example,dc=org"}, []string{"staff"}},
		{"full DN, any case", []string{"cn=vpn-admins,ou=groups,dc=example,dc=org"}, []string{"admins"}},
		{"plain group name", []string{"vpn-staff"}, []string{"staff"}},
		{"several, in config order", []string{"cn=vpn-admins,ou=groups,dc=example,dc=org", "cn=vpn-staff,ou=x"}, []string{"staff", "admins"}},
		{"other RDN does not match", []string{"cn=people,ou=vpn-staff,dc=example,dc=org"}, nil},
		{"none", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := &stubAuth{fn: func(context.Context, *challenge.Request) challenge.Decision {
				return challenge.Decision{Outcome: challenge.Accept, Groups: tc.groups}
			}}
			ts := startServer(t, cfg, auth, nil)
			n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
			p, _ := n.exchange(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true))
			if p.Code != radius.CodeAccessAccept {
				t.Fatalf("code %v", p.Code)
			}
			var got []string
			for _, a := range p.Attributes {
				if a.Type == rfc2865.FilterID_Type {
					got = append(got, string(a.Attribute))
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("Filter-Id %q, want %q", got, tc.want)
			}
			if v, _ := rfc2865.SessionTimeout_Lookup(p); v != 3600 {
				t.Errorf("client reply attribute Session-Timeout = %d, want 3600", v)
			}
		})
	}
}

func TestRejectCarriesNoAcceptAttributes(t *testing.T) {
	cfg := testConfig()
	cfg.Clients[0].ReplyAttributes = []Attribute{{Name: "Filter-Id", Value: "x"}}
	cfg.GroupAttributes = []GroupAttributes{{Group: "g", Attributes: []Attribute{{Name: "Class", Value: "g"}}}}
	auth := &stubAuth{fn: func(context.Context, *challenge.Request) challenge.Decision {
		return challenge.Decision{Outcome: challenge.Reject, Groups: []string{"g"}}
	}}
	ts := startServer(t, cfg, auth, nil)
	n := dialNAS(t, ts.AuthAddrs()[0], "127.0.0.1:0", testSecret)
	p, _ := n.exchange(encodeRequest(t, accessRequest(t, testSecret, "alice", "pw"), true))
	if p.Code != radius.CodeAccessReject || len(p.Attributes) != 1 {
		t.Errorf("got %v with %d attributes, want a reject with only the Message-Authenticator", p.Code, len(p.Attributes))
	}
}
