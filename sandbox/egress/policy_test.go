package egress

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDefaultDialRefusesHostNetworks(t *testing.T) {
	e := newEnv(t, mustPolicy(t), true)
	srv := listen(t, echo)
	_, portStr, _ := net.SplitHostPort(srv)
	port, _ := strconv.Atoi(portStr)
	// "localhost" resolves (on the host, /etc/hosts) to 127.0.0.1: a name
	// the sandbox may use must not lead to the host's loopback.
	mustAllow(t, e.p, Rule{Host: "localhost", Port: uint16(port)})
	dst := netip.AddrPortFrom(e.resolve("localhost"), uint16(port))
	e.mustRefuse(dst)
	ev := e.waitEvent("connect localhost", func(ev Event) bool { return ev.Kind == "connect" && ev.Name == "localhost" })
	if ev.Allowed || !strings.Contains(ev.Reason, "host's own networks") {
		t.Errorf("event: %+v", ev)
	}
	// A Prefix rule for every address does not name the loopback.
	mustAllow(t, e.p, mustRule(t, "0.0.0.0/0:"+portStr))
	e.mustRefuse(dst)
	// Control: a Prefix rule for the loopback lets the default Dial through.
	mustAllow(t, e.p, mustRule(t, "127.0.0.0/8:"+portStr))
	e.mustEcho(dst)
}

func TestDefaultDialControl(t *testing.T) {
	for _, tc := range []struct {
		rules []string
		addr  string
		ok    bool
	}{
		{nil, "8.8.8.8:443", true},
		{nil, "151.101.0.223:443", true},
		{nil, "100.128.0.1:443", true},
		{nil, "172.32.0.1:443", true},
		{nil, "127.0.0.1:443", false},
		{nil, "255.255.255.255:443", false},
		// A Prefix rule wider than a host network does not open it.
		{[]string{"0.0.0.0/0:443"}, "127.0.0.1:443", false},
		{[]string{"0.0.0.0/0:443"}, "10.1.2.3:443", false},
		{[]string{"0.0.0.0/0:443"}, "169.254.169.254:443", false},
		{[]string{"0.0.0.0/0:443"}, "100.64.0.1:443", false},
		{[]string{"0.0.0.0/0:*"}, "192.168.1.1:22", false},
		{[]string{"0.0.0.0/1:443"}, "10.1.2.3:443", false},
		{[]string{"0.0.0.0/0:443"}, "8.8.8.8:443", true},
		// One inside it does, for its addresses and port only.
		{[]string{"127.0.0.0/8:443"}, "127.0.0.1:443", true},
		{[]string{"127.0.0.0/8:443"}, "127.0.0.1:80", false},
		{[]string{"10.0.0.0/8:5432"}, "10.1.2.3:5432", true},
		{[]string{"10.1.2.3:5432"}, "10.1.2.3:5432", true},
		{[]string{"10.1.2.3:5432"}, "10.1.2.4:5432", false},
		{[]string{"169.254.169.254:80"}, "169.254.169.254:80", true},
		{[]string{"0.0.0.0/0:443", "192.168.0.0/16:443"}, "192.168.1.1:443", true},
		// IPv6 never, whatever the rules (NAT64, 6to4, IPv4-compatible, mapped).
		{[]string{"0.0.0.0/0:*"}, "[2606:4700::1111]:443", false},
		{[]string{"0.0.0.0/0:*"}, "[64:ff9b::a01:203]:443", false},
		{[]string{"0.0.0.0/0:*"}, "[2002:a01:203::1]:443", false},
		{[]string{"0.0.0.0/0:*"}, "[::a01:203]:443", false},
		{[]string{"0.0.0.0/0:*"}, "[::ffff:8.8.8.8]:443", false},
		{[]string{"0.0.0.0/0:*"}, "[::1]:443", false},
	} {
		var rules []Rule
		for _, s := range tc.rules {
			rules = append(rules, mustRule(t, s))
		}
		p := mustPolicy(t, rules...)
		err := p.control("tcp4", tc.addr, nil)
		if (err == nil) != tc.ok {
			t.Errorf("rules %v, control(%s) = %v; want ok %v", tc.rules, tc.addr, err, tc.ok)
		}
	}
}

func TestRevoke(t *testing.T) {
	keep, gone := mustRule(t, "keep.test:80"), mustRule(t, "gone.test:80")
	e := newEnv(t, mustPolicy(t, keep, gone), false)
	e.serve("keep.test:80", echo)
	e.serve("gone.test:80", echo)
	ka, ga := netip.AddrPortFrom(e.resolve("keep.test"), 80), netip.AddrPortFrom(e.resolve("gone.test"), 80)
	kc, err := e.dial(ka)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	gc, err := e.dial(ga)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	roundTrip(t, kc, "before")
	roundTrip(t, gc, "before")

	e.p.Revoke(gone)
	if got := e.p.Rules(); len(got) != 1 || got[0] != keep {
		t.Fatalf("Rules after Revoke: %v, want [%v]", got, keep)
	}
	// The live connection to the revoked name ends...
	gc.SetDeadline(time.Now().Add(10 * time.Second))
	gc.Write([]byte("after"))
	if n, err := io.ReadFull(gc, make([]byte, 5)); err == nil {
		t.Fatalf("revoked connection: read %d bytes", n)
	}
	ev := e.waitEvent("close revoked", func(ev Event) bool { return ev.Kind == "close" && ev.Name == "gone.test" })
	if ev.Reason != "revoked" {
		t.Errorf("close event: %+v", ev)
	}
	// ...new ones are refused, and the name is no longer answered...
	e.mustRefuse(ga)
	ans, err := e.peer.Query(context.Background(), false, "gone.test.", 1)
	if err != nil || ans.RCode.String() != "RCodeNameError" {
		t.Errorf("DNS for gone.test after Revoke: %+v %v", ans, err)
	}
	// ...while the other rule's connection lives on (control).
	roundTrip(t, kc, "after")
	e.mustEcho(ka)
}

func TestConnectionCap(t *testing.T) {
	p := mustPolicy(t, mustRule(t, "cap.test:80"))
	p.MaxConns = 3
	e := newEnv(t, p, false)
	e.serve("cap.test:80", echo)
	dst := netip.AddrPortFrom(e.resolve("cap.test"), 80)
	var conns []net.Conn
	for range 3 {
		c, err := e.dial(dst)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, "x")
		conns = append(conns, c)
	}
	e.mustRefuse(dst)
	ev := e.waitEvent("connect over the cap", func(ev Event) bool { return ev.Kind == "connect" && !ev.Allowed })
	if !strings.Contains(ev.Reason, "3 connections, its limit") {
		t.Errorf("event: %+v", ev)
	}
	// Control: once one ends, a new one gets its slot.
	conns[0].Close()
	e.waitEvent("close", func(ev Event) bool { return ev.Kind == "close" })
	e.mustEcho(dst)
	for _, c := range conns[1:] {
		c.Close()
	}
}

func TestCheckSNI(t *testing.T) {
	p := mustPolicy(t, mustRule(t, "tls.test:443"))
	p.CheckSNI = true
	e := newEnv(t, p, false)
	first := make(chan byte, 4)
	e.serve("tls.test:443", func(c net.Conn) {
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err == nil {
			first <- b[0]
		}
	})
	dst := netip.AddrPortFrom(e.resolve("tls.test"), 443)
	hello := func(serverName string) {
		c, err := e.dial(dst)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		tls.Client(c, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
	}
	hello("evil.test")
	ev := e.waitEvent("close", func(ev Event) bool { return ev.Kind == "close" })
	if !strings.Contains(ev.Reason, `TLS server name "evil.test" is not "tls.test"`) || ev.BytesOut != 0 {
		t.Errorf("close event: %+v", ev)
	}
	select {
	case b := <-first:
		t.Fatalf("the host's server got %#x from a ClientHello for another name", b)
	default:
	}
	// Control: the right name passes, ClientHello and all.
	hello("tls.test")
	select {
	case b := <-first:
		if b != 0x16 {
			t.Errorf("first byte %#x, want 0x16 (a TLS handshake)", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the ClientHello for the right name did not reach the server")
	}
}

func TestWildcardMatching(t *testing.T) {
	for _, tc := range []struct {
		rule, name string
		want       bool
	}{
		{"*.example.com:443", "a.example.com", true},
		{"*.example.com:443", "a.b.example.com", true},
		{"*.example.com:443", "example.com", false},
		{"*.example.com:443", "badexample.com", false},
		{"*.example.com:443", "example.com.evil.test", false},
		{"*.Example.COM.:443", "a.example.com", true},
		{"example.com:443", "example.com", true},
		{"example.com:443", "a.example.com", false},
		{"example.com:*", "example.com", true},
		{"10.0.0.0/8:443", "example.com", false},
	} {
		p := mustPolicy(t, mustRule(t, tc.rule))
		_, got := p.allowName(tc.name)
		if got != tc.want {
			t.Errorf("rule %s, name %s: allowed %v, want %v", tc.rule, tc.name, got, tc.want)
		}
	}
}

func TestAllowDeduplicatesAndNormalizes(t *testing.T) {
	p := mustPolicy(t, Rule{Host: "Pypi.ORG.", Port: 443}, mustRule(t, "pypi.org:443"))
	mustAllow(t, p, Rule{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Port: 5432}, mustRule(t, "10.0.0.0/8:5432"))
	want := []string{"pypi.org:443", "10.0.0.0/8:5432"}
	got := p.Rules()
	if len(got) != len(want) {
		t.Fatalf("Rules: %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("Rules()[%d] = %v, want %s", i, got[i], want[i])
		}
	}
	p.Revoke(Rule{Host: "PYPI.org", Port: 443})
	if got := p.Rules(); len(got) != 1 {
		t.Errorf("Rules after Revoke: %v", got)
	}
}

func TestAttachBadLink(t *testing.T) {
	p := mustPolicy(t)
	if _, err := p.Attach(nil); err == nil || !strings.Contains(err.Error(), "link is nil") {
		t.Errorf("Attach(nil): %v", err)
	}
}

func TestRevokeWhileDialing(t *testing.T) {
	r := mustRule(t, "slow.test:80")
	srv := listen(t, echo)
	dialing, release := make(chan struct{}), make(chan struct{})
	p := mustPolicy(t, r)
	p.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		close(dialing)
		<-release
		var d net.Dialer
		return d.DialContext(ctx, network, srv)
	}
	e := newEnv(t, p, true) // keeps p.Dial
	dst := netip.AddrPortFrom(e.resolve("slow.test"), 80)
	result := make(chan error, 1)
	go func() {
		c, err := e.dial(dst)
		if err != nil {
			result <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("x"))
		_, err = io.ReadFull(c, make([]byte, 1))
		result <- err
	}()
	<-dialing
	e.p.Revoke(r)
	close(release)
	if err := <-result; err == nil {
		t.Fatal("a connection revoked while its dial was in progress echoed")
	}
	ev := e.waitEvent("close", func(ev Event) bool { return ev.Kind == "close" })
	if ev.Reason != "revoked" || ev.BytesIn != 0 {
		t.Errorf("close event: %+v", ev)
	}
}

func TestDefaultDialIPv4Only(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// Control: the listener is reachable by a plain dial.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p := mustPolicy(t, mustRule(t, "0.0.0.0/0:*"))
	if c, err := p.defaultDial(context.Background(), ln.Addr().String()); err == nil {
		c.Close()
		t.Fatalf("the default Dial connected to %v", ln.Addr())
	}
}
