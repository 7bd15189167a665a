package egress

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestAllowedNameConnects(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "allowed.test:80")), false)
	e.serve("allowed.test:80", echo)
	a := e.resolve("allowed.test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The Go resolver, as a program in the sandbox would use it.
	if got, err := e.peer.Resolver(false).LookupNetIP(ctx, "ip4", "allowed.test."); err != nil || len(got) != 1 || got[0] != a {
		t.Fatalf("the Go resolver: %v %v, want [%v]", got, err, a)
	}
	if again := e.resolve("ALLOWED.test"); again != a {
		t.Fatalf("allowed.test resolved to %v, then to %v: want one address per name", a, again)
	}
	e.mustEcho(netip.AddrPortFrom(a, 80))
	dns := e.waitEvent("dns allowed.test A", func(ev Event) bool {
		return ev.Kind == "dns" && ev.Name == "allowed.test" && ev.QType == "A"
	})
	if !dns.Allowed || dns.Reason != "rule allowed.test:80" || dns.Proto != "udp" || dns.Sandbox != "sb-"+t.Name() {
		t.Errorf("dns event: %+v", dns)
	}
	conn := e.waitEvent("connect", func(ev Event) bool { return ev.Kind == "connect" })
	if !conn.Allowed || conn.Name != "allowed.test" || conn.Addr != netip.AddrPortFrom(a, 80).String() || conn.Proto != "tcp" {
		t.Errorf("connect event: %+v", conn)
	}
	closed := e.waitEvent("close", func(ev Event) bool { return ev.Kind == "close" })
	if want := int64(len("hello " + netip.AddrPortFrom(a, 80).String())); closed.BytesOut != want || closed.BytesIn != want {
		t.Errorf("close event: %+v, want %d bytes each way", closed, want)
	}
}

func TestLargePayload(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "bulk.test:443")), false)
	e.serve("bulk.test:443", echo)
	c, err := e.dial(netip.AddrPortFrom(e.resolve("bulk.test"), 443))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const size = 64 << 20
	payload := make([]byte, size)
	rand.Read(payload)
	want := sha256.Sum256(payload)
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		errc <- err
	}()
	h := sha256.New()
	n, err := io.CopyN(h, c, size)
	if err != nil {
		t.Fatalf("read %d of %d bytes back: %v", n, size, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := h.Sum(nil); string(got) != string(want[:]) {
		t.Fatalf("sha256 of the echoed 64 MiB: %x, want %x", got, want)
	}
}

func TestParallelConnections(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "many.test:8000")), false)
	e.serve("many.test:8000", echo)
	dst := netip.AddrPortFrom(e.resolve("many.test"), 8000)
	const n, size = 50, 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.dial(dst)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			payload := make([]byte, size)
			for j := range payload {
				payload[j] = byte(i + j)
			}
			go c.Write(payload)
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- err
				return
			}
			if string(got) != string(payload) {
				errs <- io.ErrUnexpectedEOF
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(e.eventsOf("connect")); got != n {
		t.Errorf("%d connect events, want %d", got, n)
	}
}

func TestDialContextReachesTheSandbox(t *testing.T) {
	e := newEnv(t, mustPolicy(t), false)
	l, err := e.peer.Listen(8080)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		echo(c)
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.att.DialContext(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "port forwarding")
	c.Close()
	<-done
	// Control: a port nothing listens on is refused.
	if c, err := e.att.DialContext(ctx, 8081); err == nil {
		c.Close()
		t.Fatal("DialContext to a port nothing listens on: connected")
	}
	if _, err := e.att.DialContext(ctx, 0); err == nil {
		t.Fatal("DialContext to port 0: no error")
	}
}

var _ = net.Dial

// TestCloseWithLiveConnections closes an attachment in the middle of a
// transfer, with a DNS-over-TCP connection open and a dial in progress:
// Close returns, the sandbox's connections end, and the leak check (in
// newEnv's cleanup) finds nothing left.
func TestCloseWithLiveConnections(t *testing.T) {
	srv := listen(t, echo)
	dialing := make(chan struct{}, 1)
	p := mustPolicy(t, mustRule(t, "live.test:80"), mustRule(t, "hang.test:80"))
	p.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		if address == "hang.test:80" {
			dialing <- struct{}{}
			<-ctx.Done() // until Close cancels it
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, srv)
	}
	e := newEnv(t, p, true)
	live, err := e.dial(netip.AddrPortFrom(e.resolve("live.test"), 80))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	roundTrip(t, live, "before")
	dnsConn, err := e.dial(netip.MustParseAddrPort("10.0.2.3:53"))
	if err != nil {
		t.Fatal(err)
	}
	defer dnsConn.Close()
	hangDst := netip.AddrPortFrom(e.resolve("hang.test"), 80)
	hung := make(chan error, 1)
	go func() {
		c, err := e.dial(hangDst)
		if err == nil {
			c.Close()
		}
		hung <- err
	}()
	<-dialing
	writing := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for {
			if _, err := live.Write(buf); err != nil {
				writing <- err
				return
			}
		}
	}()
	if err := e.att.Close(); err != nil {
		t.Fatal(err)
	}
	live.SetDeadline(time.Now().Add(10 * time.Second))
	if err := <-writing; err == nil {
		t.Fatal("writing after Close: no error")
	}
	if err := <-hung; err == nil {
		t.Fatal("a dial in progress at Close connected")
	}
	dnsConn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := dnsConn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the DNS-over-TCP connection still reads after Close")
	}
	var reasons []string
	for _, ev := range e.eventsOf("close") {
		reasons = append(reasons, ev.Reason)
	}
	if len(reasons) != 1 || reasons[0] != "attachment closed" {
		t.Errorf("close events' reasons %q, want one, \"attachment closed\"", reasons)
	}
}
