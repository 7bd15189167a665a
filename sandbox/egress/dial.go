package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// errHostNetwork is the default Dial's refusal of an address in the host's
// own networks.
var errHostNetwork = errors.New("is in the host's own networks (loopback, private, CGNAT, link-local, multicast, broadcast or \"this network\")")

// hostNetworks are the IPv4 ranges the default Dial refuses unless a
// Prefix rule inside the range names the address.
var hostNetworks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),         // private
	netip.MustParsePrefix("100.64.0.0/10"),      // CGNAT
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local (cloud metadata)
	netip.MustParsePrefix("172.16.0.0/12"),      // private
	netip.MustParsePrefix("192.168.0.0/16"),     // private
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
}

// hostNetwork returns the host-network range a is in, if any.
func hostNetwork(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap()
	for _, b := range hostNetworks {
		if b.Contains(a) {
			return b, true
		}
	}
	return netip.Prefix{}, false
}

// defaultDial dials address, IPv4 only, with a net.Dialer whose Control
// refuses the host's own networks unless a Prefix rule inside them covers
// the address.
func (p *Policy) defaultDial(ctx context.Context, address string) (net.Conn, error) {
	d := net.Dialer{Resolver: p.Resolver, Control: p.control}
	return d.DialContext(ctx, "tcp4", address)
}

// control is the default Dial's check of each address it is about to
// connect to: after the name was resolved, so a name that resolves to the
// host's loopback (DNS rebinding) is caught here. It refuses every IPv6
// address, and an address in a host network B unless a Prefix rule that
// covers it lies inside B: 0.0.0.0/0 does not open 127.0.0.1, 10.0.0.0/8
// opens 10.1.2.3.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: dialing %q: %w", address, err)
	}
	if !ap.Addr().Unmap().Is4() || ap.Addr().Is4In6() {
		return fmt.Errorf("egress: %v %w", ap.Addr(), errIPv6)
	}
	a := ap.Addr()
	b, ok := hostNetwork(a)
	if !ok {
		return nil
	}
	if p.allowHostNetwork(b, netip.AddrPortFrom(a, ap.Port())) {
		return nil
	}
	return fmt.Errorf("egress: %v %w (%v): a Prefix rule inside it (%v:%d) allows it", a, errHostNetwork, b, a, ap.Port())
}

// errIPv6 is the default Dial's refusal of an IPv6 address: the sandbox is
// IPv4 only, and IPv6 forms (NAT64, 6to4, IPv4-compatible) can lead to
// private IPv4.
var errIPv6 = errors.New("is IPv6, which the default Dial never connects to (the sandbox is IPv4 only)")

// allowHostNetwork reports whether a Prefix rule inside b (the user named
// that host network or part of it) allows dst.
func (p *Policy) allowHostNetwork(b netip.Prefix, dst netip.AddrPort) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, r := range p.rules {
		if r.matchPort(dst.Port()) && r.matchAddr(dst.Addr()) &&
			r.Prefix.Bits() >= b.Bits() && b.Contains(r.Prefix.Addr()) {
			return true
		}
	}
	return false
}
