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
var errHostNetwork = errors.New("is in the host's own networks (loopback, private, link-local, multicast or unspecified)")

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
)

// hostNetwork reports whether a is an address the default Dial refuses
// without a Prefix rule.
func hostNetwork(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || cgnat.Contains(a) || thisNetwork.Contains(a) ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// defaultDial dials address with a net.Dialer whose Control refuses the
// host's own networks unless a Prefix rule covers the address.
func (p *Policy) defaultDial(ctx context.Context, address string) (net.Conn, error) {
	d := net.Dialer{Resolver: p.Resolver, Control: p.control}
	return d.DialContext(ctx, "tcp", address)
}

// control is the default Dial's check of each address it is about to
// connect to: after the name was resolved, so a name that resolves to the
// host's loopback (DNS rebinding) is caught here.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: dialing %q: %w", address, err)
	}
	a := ap.Addr().Unmap()
	if !hostNetwork(a) {
		return nil
	}
	if _, ok := p.allowConn("", netip.AddrPortFrom(a, ap.Port())); ok {
		return nil
	}
	return fmt.Errorf("egress: %v %w: a Prefix rule (%v:%d) allows it", a, errHostNetwork, a, ap.Port())
}
