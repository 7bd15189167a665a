package netstack

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

const ipv4ProtocolNumber = ipv4.ProtocolNumber

// TCP tuning for bulk throughput over 64 KiB frames: buffers that grow to
// BufferMax, moderated receive buffers (auto-tuning), SACK.
const (
	bufferMin     = 4 << 10
	bufferDefault = 1 << 20
	// maxInFlight caps the handshakes being decided (dials in progress).
	maxInFlight = 256
)

// build makes the gVisor stack on the link: one NIC, the filter in front of
// it, the gateway's and DNS's addresses, a route to everything, promiscuous
// and spoofing so that every destination reaches the forwarder.
func (s *Stack) build() (*stack.Stack, error) {
	st := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
		HandleLocal:        false,
	})
	fail := func(what string, err any) (*stack.Stack, error) {
		st.Destroy()
		CloseFDs(s.stopFDs)
		s.stopFDs = nil
		return nil, fmt.Errorf("netstack: %s: %v", what, err)
	}
	sack := tcpip.TCPSACKEnabled(true)
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: bufferMin, Default: bufferDefault, Max: BufferMax}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: bufferMin, Default: bufferDefault, Max: BufferMax}
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &rcv, &snd, &moderate} {
		if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			return fail(fmt.Sprintf("TCP option %T", opt), err)
		}
	}

	link, err := fdbased.New(&fdbased.Options{
		FDs:            []int{int(s.cfg.File.Fd())},
		MTU:            uint32(s.cfg.MTU),
		EthernetHeader: true,
		Address:        tcpip.LinkAddress(HostMAC),
		// The frames come from the sandbox's kernel, which completes
		// checksums before a TAP sees them; a sandbox that sends bad
		// ones only hurts its own connections.
		RXChecksumOffload: true,
	})
	if err != nil {
		return fail("the link", err)
	}
	s.stopFDs = StopFDs(link)
	f := newFilter(link, s)
	if err := st.CreateNIC(nicID, f); err != nil {
		return fail("the NIC", err)
	}
	for _, a := range []tcpip.Address{tcpAddr(s.cfg.Gateway), tcpAddr(s.cfg.DNS)} {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: a, PrefixLen: s.cfg.Addr.Bits()}}
		if err := st.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return fail("the address "+a.String(), err)
		}
	}
	if err := st.AddStaticNeighbor(nicID, ipv4.ProtocolNumber, tcpAddr(s.cfg.Addr.Addr()), tcpip.LinkAddress(s.cfg.MAC)); err != nil {
		return fail("the sandbox's neighbor entry", err)
	}
	st.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nicID}})
	if err := st.SetPromiscuousMode(nicID, true); err != nil {
		return fail("promiscuous mode", err)
	}
	if err := st.SetSpoofing(nicID, true); err != nil {
		return fail("spoofing", err)
	}
	fwd := tcp.NewForwarder(st, 0, maxInFlight, s.onSYN)
	st.SetTransportProtocolHandler(tcp.ProtocolNumber, fwd.HandlePacket)
	return st, nil
}
