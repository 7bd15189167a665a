// Package netstack is the host's end of a NetworkEgress sandbox's link: a
// gVisor TCP/IP stack on the sandbox's TAP that answers DNS, forwards the
// TCP connections its Policy allows, and drops everything else.
//
// Package sandbox/egress is its public face; this package is the gVisor
// plumbing, so that only programs that use egress link gVisor.
package netstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Policy decides what the sandbox may reach, dials the host's side of
// allowed connections and receives the Events.
type Policy interface {
	// AllowName reports whether DNS may answer for name (lower case, no
	// trailing dot), and why: the rule that allows it, or the reason not.
	AllowName(name string) (ok bool, reason string)
	// AllowConn reports whether a TCP connection to dst may go out. name
	// is the name dst was handed out for, "" when dst is not synthetic.
	AllowConn(name string, dst netip.AddrPort) (ok bool, reason string)
	// Dial connects the host's side of an allowed connection.
	Dial(ctx context.Context, name string, dst netip.AddrPort) (net.Conn, error)
	// Report receives every Event; it must not block for long.
	Report(Event)
}

// Event is one thing the stack saw: see package sandbox/egress's Event,
// which mirrors it.
type Event struct {
	Time    time.Time
	Kind    string // "dns", "connect", "packet", "close"
	Proto   string // "tcp", "udp", "icmp", "ipv6", ...
	Name    string
	Addr    string
	Allowed bool
	Reason  string
	QType   string        // dns: the query's type ("A", "AAAA", ...)
	Count   int           // packet, refused dns and connect: how many this event stands for
	Out     int64         // close: bytes from the sandbox
	In      int64         // close: bytes to the sandbox
	Elapsed time.Duration // close: how long the connection lived
}

// Config is what New needs: the link (package sandbox's Link's values) and
// the policy.
type Config struct {
	// File is the TAP (or, in tests, a SOCK_SEQPACKET socket): Ethernet
	// frames, one per read and write. The Stack owns it.
	File *os.File
	// MTU is the link's IP MTU.
	MTU int
	// MAC is the sandbox's hardware address.
	MAC net.HardwareAddr
	// Addr is the sandbox's address and subnet.
	Addr netip.Prefix
	// Gateway and DNS are the stack's own addresses on the link.
	Gateway, DNS netip.Addr
	// Policy decides; required.
	Policy Policy
	// CheckSNI holds connections to names to TLS: see package
	// sandbox/egress's Policy.CheckSNI.
	CheckSNI bool
	// MaxConns caps the live TCP connections (DNS over TCP included);
	// 0 means DefaultMaxConns.
	MaxConns int
	// MaxNames caps the names DNS hands synthetic addresses out for; 0
	// means DefaultMaxNames.
	MaxNames int
}

// Defaults for Config and the per-connection figures behind the memory
// bound (see package sandbox/egress's documentation).
const (
	DefaultMaxConns = 512
	DefaultMaxNames = 16384
	// BufferMax is the largest a connection's gVisor receive or send
	// buffer grows.
	BufferMax = 2 << 20
	// CopyBuffer is the size of each of a connection's two copy buffers.
	CopyBuffer = 256 << 10
	// NameTTL is the TTL of the synthetic addresses DNS hands out.
	NameTTL = 5
)

// HostMAC is the stack's hardware address on the link: the gateway's and the
// DNS server's (02:00:00:00:00:02, as the egress contract fixes it;
// sandbox.Link carries only the sandbox's MAC).
var HostMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}

const nicID tcpip.NICID = 1

// Stack serves one sandbox's link.
type Stack struct {
	cfg     Config
	st      *stack.Stack
	names   *names
	events  *coalescer
	ctx     context.Context
	cancel  context.CancelFunc
	dnsUDP  *gonet.UDPConn
	dropped atomic.Uint64
	// stopFDs are fdbased's eventfds, closed after the link stops.
	stopFDs []int

	mu     sync.Mutex
	closed bool
	conns  map[*conn]struct{}
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// ErrClosed is returned by DialContext after Close.
var ErrClosed = errors.New("netstack: closed")

func (c *Config) check() error {
	switch {
	case c.File == nil:
		return errors.New("netstack: Config.File is nil: pass the link's TAP file")
	case c.Policy == nil:
		return errors.New("netstack: Config.Policy is nil: pass the policy that decides")
	case c.MTU < 576 || c.MTU > 65535-14:
		return fmt.Errorf("netstack: Config.MTU %d is out of range: use 576 to 65521 (the link's MTU, 65520)", c.MTU)
	case len(c.MAC) != 6:
		return fmt.Errorf("netstack: Config.MAC %q is not an Ethernet address: use the link's MAC (02:00:00:00:00:64)", c.MAC)
	case !c.Addr.IsValid() || !c.Addr.Addr().Is4():
		return fmt.Errorf("netstack: Config.Addr %v is not an IPv4 prefix: use the link's address (10.0.2.100/24)", c.Addr)
	case !c.Gateway.Is4() || !c.Addr.Contains(c.Gateway):
		return fmt.Errorf("netstack: Config.Gateway %v is not an IPv4 address in %v: use the link's gateway (10.0.2.2)", c.Gateway, c.Addr)
	case !c.DNS.Is4() || !c.Addr.Contains(c.DNS):
		return fmt.Errorf("netstack: Config.DNS %v is not an IPv4 address in %v: use the link's DNS (10.0.2.3)", c.DNS, c.Addr)
	case c.Gateway == c.Addr.Addr() || c.DNS == c.Addr.Addr():
		return fmt.Errorf("netstack: Config.Addr %v is the gateway's or the DNS server's address: give the sandbox its own", c.Addr)
	case c.MaxConns < 0 || c.MaxNames < 0:
		return fmt.Errorf("netstack: Config.MaxConns %d or MaxNames %d is negative: use 0 for the default", c.MaxConns, c.MaxNames)
	}
	return nil
}

// New serves cfg's link until Close. It owns cfg.File from then on, even
// when it fails.
func New(cfg Config) (*Stack, error) {
	if err := cfg.check(); err != nil {
		if cfg.File != nil {
			cfg.File.Close()
		}
		return nil, err
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxNames == 0 {
		cfg.MaxNames = DefaultMaxNames
	}
	s := &Stack{cfg: cfg, conns: make(map[*conn]struct{}), names: newNames(cfg.MaxNames)}
	s.events = newCoalescer(cfg.Policy.Report)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	st, err := s.build()
	if err != nil {
		s.cancel()
		cfg.File.Close()
		return nil, err
	}
	s.st = st
	if err := s.startDNS(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops serving: it ends every connection, stops the stack (which
// aborts the handshakes in progress, so a sandbox that never ACKs cannot
// hold it), waits for the stack's goroutines and closes the file. It is
// safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		s.cancel()
		if s.dnsUDP != nil {
			s.dnsUDP.Close()
		}
		for _, c := range conns {
			c.close("attachment closed")
		}
		// Closing the stack first aborts the handshakes in progress: a
		// handler blocks in CreateEndpoint until the sandbox ACKs the
		// SYN-ACK or its retries run out (minutes).
		if s.st != nil {
			s.st.Close()
		}
		s.wg.Wait()
		if s.st != nil {
			s.st.Wait()
		}
		CloseFDs(s.stopFDs)
		s.events.flush()
		if err := s.cfg.File.Close(); err != nil {
			s.closeErr = fmt.Errorf("netstack: closing the link: %w", err)
		}
	})
	return s.closeErr
}

// DialContext connects from the gateway's address to port on the sandbox's
// address, through the stack: a server the sandbox runs.
func (s *Stack) DialContext(ctx context.Context, port int) (net.Conn, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("netstack: port %d is out of range: use 1 to 65535", port)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	local := tcpip.FullAddress{NIC: nicID, Addr: tcpAddr(s.cfg.Gateway)}
	remote := tcpip.FullAddress{NIC: nicID, Addr: tcpAddr(s.cfg.Addr.Addr()), Port: uint16(port)}
	c, err := gonet.DialTCPWithBind(ctx, s.st, local, remote, ipv4ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("netstack: dialing the sandbox's port %d: %w", port, err)
	}
	return c, nil
}

// Recheck closes the live connections that the policy no longer allows
// (after a Revoke).
func (s *Stack) Recheck() {
	s.mu.Lock()
	var gone []*conn
	for c := range s.conns {
		if c.dns {
			continue
		}
		if ok, _ := s.cfg.Policy.AllowConn(c.name, c.dst); !ok {
			gone = append(gone, c)
		}
	}
	s.mu.Unlock()
	for _, c := range gone {
		c.close("revoked")
	}
}

// Dropped returns how many frames the stack dropped and reported as
// "packet" events.
func (s *Stack) Dropped() uint64 { return s.dropped.Load() }

// Conns returns how many TCP connections are live.
func (s *Stack) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Stack) report(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if !e.Allowed && (e.Kind == "dns" || e.Kind == "connect") {
		s.events.refused(e)
		return
	}
	s.cfg.Policy.Report(e)
}

func tcpAddr(a netip.Addr) tcpip.Address { return tcpip.AddrFrom4(a.As4()) }

func netipAddr(a tcpip.Address) netip.Addr {
	if a.Len() == 4 {
		return netip.AddrFrom4(a.As4())
	}
	b, _ := netip.AddrFromSlice(a.AsSlice())
	return b
}
