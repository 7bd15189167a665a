package netstack_test

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/netstack"
	"github.com/corral-dev/corral/internal/netstack/netstacktest"
)

// stallPolicy allows every connection; its Dial waits for release.
type stallPolicy struct {
	dialing, release chan struct{}
}

func (p *stallPolicy) AllowName(string) (bool, string)                 { return true, "all" }
func (p *stallPolicy) AllowConn(string, netip.AddrPort) (bool, string) { return true, "all" }
func (p *stallPolicy) Report(netstack.Event)                           {}
func (p *stallPolicy) Dial(ctx context.Context, _ string, _ netip.AddrPort) (net.Conn, error) {
	close(p.dialing)
	<-p.release
	a, b := net.Pipe()
	go func() { <-ctx.Done(); b.Close() }()
	b.Close()
	return a, nil
}

// A sandbox that never completes the handshake (its end gone before the
// SYN-ACK) must not hold Close for the SYN-ACK's retries.
func TestCloseDuringHandshake(t *testing.T) {
	before := runtime.NumGoroutine()
	host, peer, err := netstacktest.Pair()
	if err != nil {
		t.Fatal(err)
	}
	pol := &stallPolicy{dialing: make(chan struct{}), release: make(chan struct{})}
	s, err := netstack.New(netstack.Config{File: host, MTU: netstacktest.MTU, MAC: netstacktest.MAC,
		Addr: netstacktest.Addr, Gateway: netstacktest.Gateway, DNS: netstacktest.DNS, Policy: pol})
	if err != nil {
		peer.Close()
		t.Fatal(err)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c, err := peer.DialTCP(ctx, netip.MustParseAddrPort("203.0.113.7:80")); err == nil {
			c.Close()
		}
	}()
	<-pol.dialing
	peer.Close() // nothing will ACK the SYN-ACK
	close(pol.release)
	// Let the handler reach the handshake; Close must abort it either way.
	time.Sleep(300 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a timing measurement
		t.Fatal("Close did not return within 10 s of a handshake the sandbox never completes")
	}
	// Nothing left behind: the handler and the stacks' goroutines end (the
	// peer's dialer gives up at its 5 s deadline at the latest).
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 100 {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
