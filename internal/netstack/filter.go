package netstack

import (
	"fmt"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// filter sits between the link and the stack: it drops, and reports, every
// frame the stack must not see: IPv6 and other protocols than IPv4 and ARP,
// ICMP to anything but the stack's own addresses (gVisor would answer an
// echo to any address in promiscuous mode), UDP but to DNS:53, IP
// protocols other than TCP, UDP and ICMP, and UDP and ICMP fragments.
type filter struct {
	nested.Endpoint
	s *Stack
}

func newFilter(child stack.LinkEndpoint, s *Stack) *filter {
	f := &filter{s: s}
	f.Endpoint.Init(child, f)
	return f
}

// DeliverNetworkPacket implements stack.NetworkDispatcher.
func (f *filter) DeliverNetworkPacket(protocol tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	if proto, addr, reason := f.refuse(protocol, pkt); reason != "" {
		f.s.events.packet(proto, addr, reason)
		f.s.dropped.Add(1) // after: a count seen here is in the events
		return
	}
	f.Endpoint.DeliverNetworkPacket(protocol, pkt)
}

// refuse returns why pkt must be dropped ("" if not), and what to report.
func (f *filter) refuse(protocol tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) (proto, addr, reason string) {
	switch protocol {
	case header.ARPProtocolNumber:
		return "", "", ""
	case header.IPv6ProtocolNumber:
		return "ipv6", "", "IPv6 is not served"
	case header.IPv4ProtocolNumber:
	default:
		return fmt.Sprintf("ethertype-%#04x", uint16(protocol)), "", "only IPv4 and ARP are served"
	}
	b, ok := pkt.Data().PullUp(header.IPv4MinimumSize)
	if !ok {
		return "", "", "" // malformed: ipv4 drops it
	}
	ip := header.IPv4(b)
	hlen := int(ip.HeaderLength())
	if hlen < header.IPv4MinimumSize {
		return "", "", ""
	}
	dst := netip.AddrFrom4(ip.DestinationAddress().As4())
	fragment := ip.More() || ip.FragmentOffset() != 0
	switch ip.TransportProtocol() {
	case header.TCPProtocolNumber:
		return "", "", ""
	case header.ICMPv4ProtocolNumber:
		if dst == f.s.cfg.Gateway || dst == f.s.cfg.DNS {
			if fragment {
				return "icmp", dst.String(), "fragmented ICMP is not served"
			}
			return "", "", ""
		}
		return "icmp", dst.String(), "ICMP is answered only by the gateway"
	case header.UDPProtocolNumber:
		if fragment {
			return "udp", dst.String(), "fragmented UDP is not served"
		}
		b, ok := pkt.Data().PullUp(hlen + 4)
		if !ok {
			return "udp", dst.String(), "truncated UDP"
		}
		port := header.UDP(b[hlen:]).DestinationPort()
		ap := netip.AddrPortFrom(dst, port)
		if dst == f.s.cfg.DNS && port == 53 {
			return "", "", ""
		}
		return "udp", ap.String(), "UDP goes only to the DNS server " + netip.AddrPortFrom(f.s.cfg.DNS, 53).String()
	default:
		return fmt.Sprintf("ip-proto-%d", ip.Protocol()), dst.String(), "only TCP, UDP to DNS and ICMP to the gateway are served"
	}
}
