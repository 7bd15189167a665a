package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/netstack/netstacktest"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/net/dns/dnsmessage"
)

// env is one sandbox's network under test: a Policy attached to the host's
// end of a socket pair, the sandbox played by a second gVisor stack.
type env struct {
	t      testing.TB
	p      *Policy
	att    sandbox.Attachment
	peer   *netstacktest.Peer
	mu     sync.Mutex
	events []Event
	// servers maps "name:port" (or "ip:port") to a test server's address,
	// for the Policy.Dial the tests set.
	servers map[string]string
}

// newEnv attaches p (with a Dial that maps env.servers, unless keepDial:
// then p.Dial as it is, the default Dial if nil) and checks, when the test ends, that closing it leaves no
// goroutine or fd behind.
func newEnv(t testing.TB, p *Policy, keepDial bool) *env {
	t.Helper()
	e := &env{t: t, p: p, servers: make(map[string]string)}
	goroutines, fds := runtime.NumGoroutine(), countFDs(t)
	p.Events = func(ev Event) {
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
	}
	if !keepDial {
		p.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			e.mu.Lock()
			to, ok := e.servers[address]
			e.mu.Unlock()
			if !ok {
				return nil, fmt.Errorf("no test server for %s", address)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, to)
		}
	}
	host, peer, err := netstacktest.Pair()
	if err != nil {
		t.Fatal(err)
	}
	e.peer = peer
	att, err := p.Attach(&sandbox.Link{File: host, MTU: netstacktest.MTU, MAC: netstacktest.MAC,
		Addr: netstacktest.Addr, Gateway: netstacktest.Gateway, DNS: netstacktest.DNS, ID: "sb-" + t.Name()})
	if err != nil {
		peer.Close()
		t.Fatal(err)
	}
	e.att = att
	t.Cleanup(func() {
		if err := att.Close(); err != nil {
			t.Errorf("Attachment.Close: %v", err)
		}
		peer.Close()
		checkLeaks(t, goroutines, fds)
	})
	return e
}

// serve maps address (as Policy.Dial sees it) to a new test server on
// 127.0.0.1 running handle for each connection; it returns the server's
// address.
func (e *env) serve(address string, handle func(net.Conn)) string {
	l := listen(e.t, handle)
	e.mu.Lock()
	e.servers[address] = l
	e.mu.Unlock()
	return l
}

// listen starts a test server on a random port of 127.0.0.1, closed when
// the test ends (after the env's leak check, which runs first).
func listen(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	conns := make(map[net.Conn]struct{})
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// echo sends back what it reads (with a buffer: io.Copy between sockets
// would splice through pipes the runtime pools, which the fd count would
// take for a leak).
func echo(c net.Conn) {
	io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 64<<10))
}

// TestMain starts the runtime's network poller first, so that its fds
// (created once per process) are in every leak check's baseline.
func TestMain(m *testing.M) {
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	os.Exit(m.Run())
}

// resolve asks the sandbox's DNS for name's A record (a query over UDP,
// not the Go resolver: that would read the test host's /etc/hosts first).
func (e *env) resolve(name string) netip.Addr {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := e.peer.Query(ctx, false, name+".", dnsmessage.TypeA)
	if err != nil {
		e.t.Fatalf("resolving %s in the sandbox: %v", name, err)
	}
	if len(ans.A) != 1 || !netipSynthetic.Contains(ans.A[0]) {
		e.t.Fatalf("resolving %s: %+v, want one address in %v", name, ans, netipSynthetic)
	}
	return ans.A[0]
}

var netipSynthetic = netip.MustParsePrefix("198.18.0.0/15")

// dial connects from the sandbox.
func (e *env) dial(dst netip.AddrPort) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.peer.DialTCP(ctx, dst)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// mustEcho dials dst from the sandbox and checks a round trip.
func (e *env) mustEcho(dst netip.AddrPort) {
	e.t.Helper()
	c, err := e.dial(dst)
	if err != nil {
		e.t.Fatalf("dialing %v from the sandbox: %v", dst, err)
	}
	defer c.Close()
	roundTrip(e.t, c, "hello "+dst.String())
}

func roundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo: got %q, want %q", buf, msg)
	}
}

// mustRefuse dials dst from the sandbox and checks the connection is
// refused (a RST: the stack answers refused connections with one).
func (e *env) mustRefuse(dst netip.AddrPort) {
	e.t.Helper()
	c, err := e.dial(dst)
	if err == nil {
		c.Close()
		e.t.Fatalf("dialing %v from the sandbox: connected, want refused", dst)
	}
	if !strings.Contains(err.Error(), "refused") {
		e.t.Fatalf("dialing %v from the sandbox: %v, want connection refused", dst, err)
	}
}

// waitEvent waits for an event that match accepts and returns it.
func (e *env) waitEvent(what string, match func(Event) bool) Event {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.mu.Lock()
		for _, ev := range e.events {
			if match(ev) {
				e.mu.Unlock()
				return ev
			}
		}
		n := len(e.events)
		e.mu.Unlock()
		if time.Now().After(deadline) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.t.Fatalf("no event %s among %d: %+v", what, n, e.events)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventsOf returns the events of kind so far.
func (e *env) eventsOf(kind string) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// checkLeaks waits for the goroutines and fds to come back to what they
// were (they wind down asynchronously) and fails if they do not.
func checkLeaks(t testing.TB, goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), countFDs(t)
		if g <= goroutines && f <= fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var links []string
			ents, _ := os.ReadDir("/proc/self/fd")
			for _, e := range ents {
				l, _ := os.Readlink("/proc/self/fd/" + e.Name())
				links = append(links, e.Name()+"->"+l)
			}
			t.Fatalf("leak: %d goroutines (were %d), %d fds (were %d): %v\n%s", g, goroutines, f, fds, links, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustRule(t testing.TB, s string) Rule {
	t.Helper()
	r, err := ParseRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func mustPolicy(t testing.TB, rules ...Rule) *Policy {
	t.Helper()
	p, err := NewPolicy(rules...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustAllow(t testing.TB, p *Policy, rules ...Rule) {
	t.Helper()
	if err := p.Allow(rules...); err != nil {
		t.Fatal(err)
	}
}
