// Package netstacktest plays the sandbox in tests of package netstack and
// package sandbox/egress, without privileges: a second gVisor stack on the
// other end of a unix SOCK_SEQPACKET socket pair, configured as a sandbox's
// eth0 is (10.0.2.100/24 via 10.0.2.2, DNS at 10.0.2.3, MTU 65520).
package netstacktest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/corral-dev/corral/internal/netstack"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// The link's values, as package sandbox fills them.
var (
	MTU     = 65520
	MAC     = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x64}
	HostMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	Addr    = netip.MustParsePrefix("10.0.2.100/24")
	Gateway = netip.MustParseAddr("10.0.2.2")
	DNS     = netip.MustParseAddr("10.0.2.3")
)

const nic tcpip.NICID = 1

// Peer is the sandbox's side.
type Peer struct {
	S       *stack.Stack
	file    *os.File
	stopFDs []int
}

// Pair returns the host's end of a new link (to give the stack under test)
// and the sandbox's Peer on the other end.
func Pair() (*os.File, *Peer, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	for _, fd := range fds {
		// Room for a few dozen 64 KiB frames in flight, as a TAP's queue has.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	host := os.NewFile(uintptr(fds[0]), "link-host")
	p := &Peer{file: os.NewFile(uintptr(fds[1]), "link-sandbox")}
	if err := p.build(); err != nil {
		host.Close()
		p.file.Close()
		return nil, nil, err
	}
	return host, p, nil
}

func (p *Peer) build() error {
	p.S = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	sack := tcpip.TCPSACKEnabled(true)
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 1 << 20, Max: 4 << 20}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: 1 << 20, Max: 4 << 20}
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &rcv, &snd} {
		if err := p.S.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			return fmt.Errorf("peer TCP option: %v", err)
		}
	}
	link, err := fdbased.New(&fdbased.Options{
		FDs: []int{int(p.file.Fd())}, MTU: uint32(MTU), EthernetHeader: true,
		Address: tcpip.LinkAddress(MAC), RXChecksumOffload: true,
	})
	if err != nil {
		return fmt.Errorf("peer link: %w", err)
	}
	p.stopFDs = netstack.StopFDs(link)
	if err := p.S.CreateNIC(nic, link); err != nil {
		return fmt.Errorf("peer NIC: %v", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{
		Address: ip(Addr.Addr()), PrefixLen: Addr.Bits()}}
	if err := p.S.AddProtocolAddress(nic, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("peer address: %v", err)
	}
	p.S.SetRouteTable([]tcpip.Route{
		{Destination: mustSubnet(Addr.Masked()), NIC: nic},
		{Destination: header.IPv4EmptySubnet, Gateway: ip(Gateway), NIC: nic},
	})
	return nil
}

// Close stops the peer's stack and closes its end.
func (p *Peer) Close() {
	p.S.Close()
	p.S.Wait()
	netstack.CloseFDs(p.stopFDs)
	p.file.Close()
}

// Fd is the sandbox's end of the link, for writing raw frames.
func (p *Peer) Fd() int { return int(p.file.Fd()) }

func ip(a netip.Addr) tcpip.Address { return tcpip.AddrFromSlice(a.AsSlice()) }

func mustSubnet(p netip.Prefix) tcpip.Subnet {
	s, err := tcpip.NewSubnet(ip(p.Addr()), tcpip.MaskFromBytes(net.CIDRMask(p.Bits(), p.Addr().BitLen())))
	if err != nil {
		panic(err)
	}
	return s
}

// DialTCP connects to dst from the sandbox.
func (p *Peer) DialTCP(ctx context.Context, dst netip.AddrPort) (*gonet.TCPConn, error) {
	return gonet.DialContextTCP(ctx, p.S, tcpip.FullAddress{NIC: nic, Addr: ip(dst.Addr()), Port: dst.Port()}, ipv4.ProtocolNumber)
}

// Listen listens on port of the sandbox's address.
func (p *Peer) Listen(port uint16) (*gonet.TCPListener, error) {
	return gonet.ListenTCP(p.S, tcpip.FullAddress{NIC: nic, Addr: ip(Addr.Addr()), Port: port}, ipv4.ProtocolNumber)
}

// DialUDP opens a UDP socket to dst from the sandbox.
func (p *Peer) DialUDP(dst netip.AddrPort) (*gonet.UDPConn, error) {
	return gonet.DialUDP(p.S, nil, &tcpip.FullAddress{NIC: nic, Addr: ip(dst.Addr()), Port: dst.Port()}, ipv4.ProtocolNumber)
}

// Resolver resolves through the link's DNS server (over TCP if tcp).
func (p *Peer) Resolver(tcp bool) *net.Resolver {
	dns := netip.AddrPortFrom(DNS, 53)
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		if tcp || network == "tcp" {
			return p.DialTCP(ctx, dns)
		}
		return p.DialUDP(dns)
	}}
}

// Answer is a DNS response's gist.
type Answer struct {
	RCode dnsmessage.RCode
	A     []netip.Addr
	Other int // answers of other types
}

// Query asks the link's DNS server (over TCP if tcp) for name's qtype.
func (p *Peer) Query(ctx context.Context, tcp bool, name string, qtype dnsmessage.Type) (Answer, error) {
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return Answer{}, err
	}
	q := dnsmessage.Message{Header: dnsmessage.Header{ID: 0x1234, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: n, Type: qtype, Class: dnsmessage.ClassINET}}}
	msg, err := q.Pack()
	if err != nil {
		return Answer{}, err
	}
	resp, err := p.Exchange(ctx, tcp, msg)
	if err != nil {
		return Answer{}, err
	}
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		return Answer{}, fmt.Errorf("unpacking the answer: %w", err)
	}
	if m.ID != 0x1234 || !m.Response {
		return Answer{}, fmt.Errorf("answer has ID %#x, response %v", m.ID, m.Response)
	}
	a := Answer{RCode: m.RCode}
	for _, r := range m.Answers {
		if ar, ok := r.Body.(*dnsmessage.AResource); ok {
			a.A = append(a.A, netip.AddrFrom4(ar.A))
		} else {
			a.Other++
		}
	}
	return a, nil
}

// Exchange sends the raw DNS message msg to the link's DNS server and
// returns the raw answer.
func (p *Peer) Exchange(ctx context.Context, tcp bool, msg []byte) ([]byte, error) {
	dns := netip.AddrPortFrom(DNS, 53)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	if !tcp {
		c, err := p.DialUDP(dns)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		c.SetDeadline(deadline)
		if _, err := c.Write(msg); err != nil {
			return nil, err
		}
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		return buf[:n], err
	}
	c, err := p.DialTCP(ctx, dns)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	out := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	if _, err := c.Write(append(out, msg...)); err != nil {
		return nil, err
	}
	var lb [2]byte
	if _, err := io.ReadFull(c, lb[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(lb[:]))
	_, err = io.ReadFull(c, buf)
	return buf, err
}

// Ping sends one ICMP echo request to dst and waits up to wait for the
// reply; it reports whether one came.
func (p *Peer) Ping(dst netip.Addr, wait time.Duration) (bool, error) {
	v6 := dst.Is6()
	netProto, tProto, typ := ipv4.ProtocolNumber, icmp.ProtocolNumber4, byte(header.ICMPv4Echo)
	if v6 {
		netProto, tProto, typ = ipv6.ProtocolNumber, icmp.ProtocolNumber6, byte(header.ICMPv6EchoRequest)
	}
	var wq waiter.Queue
	ep, terr := p.S.NewEndpoint(tProto, netProto, &wq)
	if terr != nil {
		return false, fmt.Errorf("ICMP endpoint: %v", terr)
	}
	defer ep.Close()
	we, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&we)
	defer wq.EventUnregister(&we)
	req := make([]byte, 8+16)
	req[0] = typ
	copy(req[8:], "corral ping test")
	var r bytes.Reader
	r.Reset(req)
	if _, terr := ep.Write(&r, tcpip.WriteOptions{To: &tcpip.FullAddress{NIC: nic, Addr: ip(dst)}}); terr != nil {
		return false, fmt.Errorf("ICMP write: %v", terr)
	}
	timeout := time.After(wait)
	for {
		var buf bytes.Buffer
		_, terr := ep.Read(&buf, tcpip.ReadOptions{})
		if terr == nil {
			return true, nil
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			return false, fmt.Errorf("ICMP read: %v", terr)
		}
		select {
		case <-ch:
		case <-timeout:
			return false, nil
		}
	}
}

// EnableIPv6 gives the sandbox fd00::100/64, a route via fd00::2 and a
// neighbor entry for it (the host's MAC), so IPv6 frames go out at once.
func (p *Peer) EnableIPv6() (gw netip.Addr, err error) {
	gw = netip.MustParseAddr("fd00::2")
	pa := tcpip.ProtocolAddress{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{
		Address: ip(netip.MustParseAddr("fd00::100")), PrefixLen: 64}}
	if terr := p.S.AddProtocolAddress(nic, pa, stack.AddressProperties{}); terr != nil {
		return gw, fmt.Errorf("IPv6 address: %v", terr)
	}
	p.S.AddRoute(tcpip.Route{Destination: header.IPv6EmptySubnet, Gateway: ip(gw), NIC: nic})
	if terr := p.S.AddStaticNeighbor(nic, ipv6.ProtocolNumber, ip(gw), tcpip.LinkAddress(HostMAC)); terr != nil {
		return gw, fmt.Errorf("IPv6 neighbor: %v", terr)
	}
	return gw, nil
}

// ErrNoReply is what a UDP exchange returns when nothing came back in time.
var ErrNoReply = errors.New("no reply")
