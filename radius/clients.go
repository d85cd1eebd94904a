package radius

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// clientTable maps a packet's source address to its client by longest
// prefix match. It holds one map per prefix length in use, longest first,
// so a lookup costs one masked map probe per distinct length (a handful in
// practice) whatever the number of clients. It is built once and then only
// read, by every read loop at once, without locks.
type clientTable struct {
	v4, v6 []prefixLevel
}

type prefixLevel struct {
	bits    int
	clients map[netip.Prefix]*client
}

// add registers p (already masked and unmapped) for c.
func (t *clientTable) add(p netip.Prefix, c *client) {
	levels := &t.v6
	if p.Addr().Is4() {
		levels = &t.v4
	}
	for _, l := range *levels {
		if l.bits == p.Bits() {
			l.clients[p] = c
			return
		}
	}
	*levels = append(*levels, prefixLevel{bits: p.Bits(), clients: map[netip.Prefix]*client{p: c}})
	sort.Slice(*levels, func(i, j int) bool { return (*levels)[i].bits > (*levels)[j].bits })
}

// lookup returns the client for a source address, or nil. IPv4 packets on a
// dual-stack socket arrive as IPv4-mapped IPv6 (::ffff:192.0.2.1) and
// link-local ones carry a zone; both are normalised so that configured
// plain addresses match.
func (t *clientTable) lookup(a netip.Addr) *client {
	a = a.Unmap().WithZone("")
	levels := t.v6
	if a.Is4() {
		levels = t.v4
	}
	for _, l := range levels {
		p, err := a.Prefix(l.bits)
		if err != nil {
			continue
		}
		if c, ok := l.clients[p]; ok {
			return c
		}
	}
	return nil
}

// parseClientPrefix reads a configured client address: an IP address (a
// host prefix) or a CIDR prefix. Host bits in a CIDR are cleared, as
// routers do ("10.1.2.3/24" means 10.1.2.0/24).
func parseClientPrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: leave out the zone; a client is matched by address alone", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
