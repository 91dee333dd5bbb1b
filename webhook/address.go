package webhook

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// The address rules. Whatever the options, Send never connects to an address where a webhook
// cannot be meant to go and which would expose the host: unspecified, 0.0.0.0/8, link-local
// (169.254.0.0/16 and fe80::/10, where clouds serve instance metadata and credentials),
// multicast, broadcast and reserved 240.0.0.0/4, and the metadata services at 100.100.100.200
// (Alibaba) and fd00:ec2::254 (AWS over IPv6). Loopback, private (RFC 1918, fc00::/7) and shared
// (CGNAT, 100.64.0.0/10) addresses hold the operator's internal services: they are allowed only
// with Options.AllowPrivate, and loopback also with Options.AllowHTTPLoopback. IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d) and NAT64 ones (64:ff9b::a.b.c.d) are judged by the IPv4 address
// they reach.
var (
	metadataAddrs = []netip.Addr{netip.MustParseAddr("100.100.100.200"), netip.MustParseAddr("fd00:ec2::254")}
	thisNetwork   = netip.MustParsePrefix("0.0.0.0/8")
	reserved4     = netip.MustParsePrefix("240.0.0.0/4")
	broadcast4    = netip.MustParseAddr("255.255.255.255")
	sharedCGNAT   = netip.MustParsePrefix("100.64.0.0/10")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	// compat4 is the deprecated IPv4-compatible form (::a.b.c.d), judged by its IPv4 address
	// like the mapped and NAT64 forms; sixToFour (2002:AABB:CCDD::/48) embeds one too.
	compat4   = netip.MustParsePrefix("::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	// Local-use NAT64 (RFC 8215) and the deprecated site-local range lead into the operator's
	// networks, like private addresses; discard-only (RFC 6666) leads nowhere.
	localNAT64 = netip.MustParsePrefix("64:ff9b:1::/48")
	siteLocal  = netip.MustParsePrefix("fec0::/10")
	discard6   = netip.MustParsePrefix("100::/64")
)

// classify names what kind of special address ip is ("" for an ordinary public one) and
// whether it is refused whatever the options.
func classify(ip netip.Addr) (kind string, always bool) {
	ip = ip.WithZone("").Unmap()
	switch a := ip.As16(); {
	case ip.Is4():
	case nat64.Contains(ip):
		ip = netip.AddrFrom4([4]byte(a[12:]))
	case compat4.Contains(ip) && !ip.IsUnspecified() && !ip.IsLoopback():
		ip = netip.AddrFrom4([4]byte(a[12:]))
	case sixToFour.Contains(ip):
		ip = netip.AddrFrom4([4]byte(a[2:6]))
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return "cloud metadata", true
		}
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified", true
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "link-local", true
	case ip.IsMulticast():
		return "multicast", true
	case thisNetwork.Contains(ip):
		return "this-network (0.0.0.0/8)", true
	case ip == broadcast4:
		return "broadcast", true
	case reserved4.Contains(ip):
		return "reserved (240.0.0.0/4)", true
	case discard6.Contains(ip):
		return "discard-only (100::/64)", true
	case ip.IsLoopback():
		return "loopback", false
	case ip.IsPrivate() || localNAT64.Contains(ip) || siteLocal.Contains(ip):
		return "private", false
	case sharedCGNAT.Contains(ip):
		return "shared (CGNAT)", false
	}
	return "", false
}

// refusedError is an address the rules refuse. Its message names the rule, not the address:
// it lands in the delivery log, and what an internal name resolves to is the operator's
// business, not the account admin's.
type refusedError struct {
	ip     netip.Addr
	reason string
}

func (e *refusedError) Error() string {
	return "refused to connect: " + e.reason
}

// checkAddr applies the address rules under c's options.
func (c *Client) checkAddr(ip netip.Addr) error {
	kind, always := classify(ip)
	switch {
	case kind == "":
		return nil
	case always:
		return &refusedError{ip, kind + " addresses are never webhook targets"}
	case c.allowPrivate:
		return nil
	case kind == "loopback" && c.allowHTTPLoopback:
		return nil
	}
	return &refusedError{ip, kind + " addresses are webhook targets only when the server allows private targets"}
}

// control returns a net.Dialer Control function that applies the address rules to each
// address just before connecting to it: after DNS, so a name that resolves, or is rebound, to
// an internal address is refused too. plain holds plain-http connections to loopback.
func (c *Client) control(plain bool) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("webhook address %q: %w", host, err)
		}
		if plain && !ip.Unmap().IsLoopback() {
			return &refusedError{ip, "plain http goes only to loopback addresses"}
		}
		return c.checkAddr(ip)
	}
}
