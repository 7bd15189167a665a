package netstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// copyBufferStart is a copy buffer's size before a transfer fills it.
const copyBufferStart = 16 << 10

// dialTimeout bounds the host's dial for a sandbox's connection.
const dialTimeout = 30 * time.Second

// conn is one live TCP connection through the stack.
type conn struct {
	s     *Stack
	name  string
	dst   netip.AddrPort
	dns   bool
	start time.Time
	in    atomic.Int64
	out   atomic.Int64

	mu      sync.Mutex
	inner   net.Conn // the sandbox's side (gonet); nil until the handshake
	outer   net.Conn // the host's side; nil for DNS and until the dial
	closing bool
	reason  string // why it was closed from outside
}

// close ends both sides, now or as soon as they exist; reason says why,
// for the close event.
func (c *conn) close(reason string) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.reason = true, reason
	}
	inner, outer := c.inner, c.outer
	c.mu.Unlock()
	if inner != nil {
		inner.Close()
	}
	if outer != nil {
		outer.Close()
	}
}

// set records the connection's sides; if it was closed meanwhile, it closes
// them.
func (c *conn) set(inner, outer net.Conn) {
	c.mu.Lock()
	c.inner, c.outer = inner, outer
	closing := c.closing
	c.mu.Unlock()
	if closing {
		c.close("")
	}
}

// onSYN is the forwarder's handler: it runs on the stack's goroutine, so the
// decision and the dial go to one of ours.
func (s *Stack) onSYN(r *tcp.ForwarderRequest) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		r.Complete(true)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.handleTCP(r)
	}()
}

func (s *Stack) handleTCP(r *tcp.ForwarderRequest) {
	id := r.ID()
	dst := netip.AddrPortFrom(netipAddr(id.LocalAddress), id.LocalPort)
	ev := Event{Kind: "connect", Proto: "tcp", Addr: dst.String()}
	refuse := func(reason string) {
		r.Complete(true)
		ev.Reason = reason
		s.report(ev)
	}
	dnsPort := netip.AddrPortFrom(s.cfg.DNS, 53)
	isDNS := dst == dnsPort
	switch a := dst.Addr(); {
	case isDNS: // served here, reported per query
	case a == s.cfg.Gateway || a == s.cfg.DNS:
		refuse("the host's end accepts only DNS at " + dnsPort.String())
		return
	case SyntheticRange.Contains(a):
		name, ok := s.names.name(a)
		if !ok {
			refuse("no name was handed out for this address")
			return
		}
		ev.Name = name
	}
	if !isDNS {
		ok, reason := s.cfg.Policy.AllowConn(ev.Name, dst)
		if !ok {
			refuse(reason)
			return
		}
		ev.Allowed, ev.Reason = true, reason
	}
	c := &conn{s: s, name: ev.Name, dst: dst, dns: isDNS}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		ev.Allowed = false
		refuse("attachment closed")
		return
	case len(s.conns) >= s.cfg.MaxConns:
		s.mu.Unlock()
		ev.Allowed = false
		refuse(fmt.Sprintf("the sandbox has %d connections, its limit", s.cfg.MaxConns))
		return
	}
	s.conns[c] = struct{}{} // reserve the slot while dialing
	s.mu.Unlock()
	drop := func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}

	var outer net.Conn
	if !isDNS {
		ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
		var err error
		outer, err = s.cfg.Policy.Dial(ctx, ev.Name, dst)
		cancel()
		if err != nil {
			drop()
			ev.Allowed = false
			refuse(fmt.Sprintf("dial: %v", err))
			return
		}
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		r.Complete(true)
		drop()
		if outer != nil {
			outer.Close()
		}
		ev.Allowed, ev.Reason = false, "handshake with the sandbox: "+terr.String()
		s.report(ev)
		return
	}
	r.Complete(false)
	inner := gonet.NewTCPConn(&wq, ep)
	c.start = time.Now()
	// A close from outside (Revoke, Close) may have come while dialing.
	c.set(inner, outer)
	if isDNS {
		s.serveDNSTCP(inner)
		c.close("")
		drop()
		return
	}
	s.report(ev)
	if ok, _ := s.cfg.Policy.AllowConn(ev.Name, dst); !ok {
		c.close("revoked") // while dialing
	}
	if s.cfg.CheckSNI && ev.Name != "" {
		if reason := s.checkSNI(c, inner, outer); reason != "" {
			c.close(reason)
		}
	}
	s.pipe(c, inner, outer)
	drop()
	c.mu.Lock()
	reason := c.reason
	c.mu.Unlock()
	s.report(Event{Kind: "close", Proto: "tcp", Name: c.name, Addr: dst.String(), Allowed: true,
		Reason: reason, Out: c.out.Load(), In: c.in.Load(), Elapsed: time.Since(c.start)})
}

// pipe copies both ways until both directions end or one fails; a
// direction's EOF half-closes the other side.
func (s *Stack) pipe(c *conn, inner, outer net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if copyHalf(outer, inner, &c.out) != nil {
			c.close("")
		}
	}()
	if copyHalf(inner, outer, &c.in) != nil {
		c.close("")
	}
	<-done
	c.close("")
}

// copyHalf copies src to dst with its own buffer, counting into n, then
// half-closes dst. The buffer starts small and grows to CopyBuffer while reads fill it, so
// idle connections hold little.
func copyHalf(dst, src net.Conn, n *atomic.Int64) error {
	buf := make([]byte, copyBufferStart)
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n.Add(int64(nw))
			if werr != nil {
				return werr
			}
		}
		if nr == len(buf) && len(buf) < CopyBuffer {
			buf = make([]byte, min(4*len(buf), CopyBuffer))
		}
		if rerr == io.EOF {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// sniWait bounds how long a connection under CheckSNI may take to send its
// first bytes.
const sniWait = 30 * time.Second

// checkSNI reads the sandbox's first bytes; if they are a TLS ClientHello,
// its server name must be c's name. It forwards what it read and returns
// "" when the connection may go on, or why not.
func (s *Stack) checkSNI(c *conn, inner, outer net.Conn) string {
	inner.SetReadDeadline(time.Now().Add(sniWait))
	head, name, tls, err := readHello(inner)
	inner.SetReadDeadline(time.Time{})
	switch {
	case err == io.EOF && !tls:
		return "" // closed before a byte: the pipe sees EOF
	case err != nil:
		return "TLS check: " + err.Error()
	case tls && name != c.name:
		return fmt.Sprintf("TLS server name %q is not %q, the name the address came from", name, c.name)
	}
	n, err := outer.Write(head)
	c.out.Add(int64(n))
	if err != nil {
		return "write: " + err.Error()
	}
	return ""
}
