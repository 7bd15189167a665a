package egress

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestRawAddressNeedsPrefixRule(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "allowed.test:80")), false)
	raw := netip.MustParseAddrPort("203.0.113.7:80")
	e.serve(raw.String(), echo)
	e.mustRefuse(raw)
	ev := e.waitEvent("connect refused", func(ev Event) bool { return ev.Kind == "connect" && ev.Addr == raw.String() })
	if ev.Allowed || ev.Name != "" || !strings.Contains(ev.Reason, "Prefix rule") {
		t.Errorf("refused connect event: %+v", ev)
	}
	// Control: with a Prefix rule the same address connects.
	mustAllow(t, e.p, mustRule(t, "203.0.113.0/24:80"))
	e.mustEcho(raw)
	ev = e.waitEvent("connect allowed", func(ev Event) bool { return ev.Kind == "connect" && ev.Allowed })
	if ev.Reason != "rule 203.0.113.0/24:80" || ev.Addr != raw.String() {
		t.Errorf("allowed connect event: %+v", ev)
	}
	// The rule's port still counts.
	e.mustRefuse(netip.MustParseAddrPort("203.0.113.7:81"))
}

func TestOtherPortRefused(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "allowed.test:80")), false)
	e.serve("allowed.test:80", echo)
	e.serve("allowed.test:81", echo)
	a := e.resolve("allowed.test")
	e.mustRefuse(netip.AddrPortFrom(a, 81))
	ev := e.waitEvent("connect refused", func(ev Event) bool { return ev.Kind == "connect" && !ev.Allowed })
	if ev.Name != "allowed.test" || ev.Reason != "no rule allows allowed.test:81" {
		t.Errorf("refused connect event: %+v", ev)
	}
	e.mustEcho(netip.AddrPortFrom(a, 80)) // control
	// A rule with any port allows it.
	mustAllow(t, e.p, mustRule(t, "allowed.test:*"))
	e.mustEcho(netip.AddrPortFrom(a, 81))
	// An address in the synthetic range that DNS never handed out maps to
	// no name.
	e.mustRefuse(netip.MustParseAddrPort("198.19.200.1:80"))
}

func TestDNSAnswers(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "allowed.test:443"), mustRule(t, "*.wild.test:443")), false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name  string
		qtype dnsmessage.Type
		tcp   bool
		rcode dnsmessage.RCode
		a     int
	}{
		{"allowed.test.", dnsmessage.TypeA, false, dnsmessage.RCodeSuccess, 1},
		{"allowed.test.", dnsmessage.TypeA, true, dnsmessage.RCodeSuccess, 1},
		{"Allowed.TEST.", dnsmessage.TypeA, false, dnsmessage.RCodeSuccess, 1},
		{"allowed.test.", dnsmessage.TypeAAAA, false, dnsmessage.RCodeSuccess, 0},
		{"allowed.test.", dnsmessage.TypeMX, true, dnsmessage.RCodeSuccess, 0},
		{"other.test.", dnsmessage.TypeA, false, dnsmessage.RCodeNameError, 0},
		{"other.test.", dnsmessage.TypeA, true, dnsmessage.RCodeNameError, 0},
		{"other.test.", dnsmessage.TypeAAAA, false, dnsmessage.RCodeNameError, 0},
		{"sub.allowed.test.", dnsmessage.TypeA, false, dnsmessage.RCodeNameError, 0},
		{"a.wild.test.", dnsmessage.TypeA, false, dnsmessage.RCodeSuccess, 1},
		{"a.b.wild.test.", dnsmessage.TypeA, true, dnsmessage.RCodeSuccess, 1},
		{"wild.test.", dnsmessage.TypeA, false, dnsmessage.RCodeNameError, 0},
		{"notwild.test.", dnsmessage.TypeA, false, dnsmessage.RCodeNameError, 0},
	} {
		ans, err := e.peer.Query(ctx, tc.tcp, tc.name, tc.qtype)
		if err != nil {
			t.Fatalf("%s %v (tcp %v): %v", tc.name, tc.qtype, tc.tcp, err)
		}
		if ans.RCode != tc.rcode || len(ans.A) != tc.a || ans.Other != 0 {
			t.Errorf("%s %v (tcp %v): %+v, want rcode %v and %d A records", tc.name, tc.qtype, tc.tcp, ans, tc.rcode, tc.a)
		}
		for _, a := range ans.A {
			if !netipSynthetic.Contains(a) {
				t.Errorf("%s: %v is not in %v", tc.name, a, netipSynthetic)
			}
		}
	}
	refused := e.waitEvent("dns other.test", func(ev Event) bool { return ev.Kind == "dns" && ev.Name == "other.test" })
	if refused.Allowed || refused.Reason != "no rule allows the name" {
		t.Errorf("refused dns event: %+v", refused)
	}
	tcp := e.waitEvent("dns over tcp", func(ev Event) bool { return ev.Kind == "dns" && ev.Proto == "tcp" && ev.QType == "MX" })
	if !tcp.Allowed || tcp.Name != "allowed.test" {
		t.Errorf("dns over tcp event: %+v", tcp)
	}
	// The Go resolver gets NXDOMAIN for an unlisted name.
	_, err := e.peer.Resolver(false).LookupNetIP(ctx, "ip4", "other.test.")
	var dnsErr *net.DNSError
	if !errorsAs(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("resolving other.test: %v, want not found", err)
	}
}

func TestDNSOverTCPOnlyAtTheStack(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "allowed.test:443")), false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Control: DNS over TCP at the stack's address works.
	addrs, err := e.peer.Resolver(true).LookupNetIP(ctx, "ip4", "allowed.test.")
	if err != nil || len(addrs) != 1 {
		t.Fatalf("DNS over TCP at %v: %v %v", netipDNS(), addrs, err)
	}
	// TCP to another address's port 53 is refused.
	e.mustRefuse(netip.MustParseAddrPort("8.8.8.8:53"))
	ev := e.waitEvent("connect 8.8.8.8:53", func(ev Event) bool { return ev.Kind == "connect" && ev.Addr == "8.8.8.8:53" })
	if ev.Allowed {
		t.Errorf("event: %+v", ev)
	}
}

func TestStackAddressesAcceptOnlyDNS(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "0.0.0.0/0:*")), false)
	e.serve("10.0.2.2:80", echo) // were the gateway reachable, this would answer
	for _, dst := range []string{"10.0.2.2:80", "10.0.2.2:53", "10.0.2.2:22", "10.0.2.3:80"} {
		e.mustRefuse(netip.MustParseAddrPort(dst))
		ev := e.waitEvent("connect "+dst, func(ev Event) bool { return ev.Kind == "connect" && ev.Addr == dst })
		if ev.Allowed || !strings.Contains(ev.Reason, "accepts only DNS") {
			t.Errorf("event: %+v", ev)
		}
	}
	// Control: DNS over TCP at 10.0.2.3:53 connects.
	c, err := e.dial(netip.AddrPortFrom(netipDNS(), 53))
	if err != nil {
		t.Fatalf("TCP to the DNS server: %v", err)
	}
	c.Close()
}

func TestUDPOnlyToDNS(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "allowed.test:443")), false)
	q := dnsQuery(t, "allowed.test.")
	dsts := []string{"8.8.8.8:53", "10.0.2.2:53", "10.0.2.3:5353", "198.18.0.1:443"}
	for _, dst := range dsts {
		ap := netip.MustParseAddrPort(dst)
		c, err := e.peer.DialUDP(ap)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(q)
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(make([]byte, 512)); err == nil {
			t.Errorf("UDP to %s: got a %d-byte reply", dst, n)
		}
		c.Close()
	}
	ev := e.waitEvent("packet udp", func(ev Event) bool { return ev.Kind == "packet" && ev.Proto == "udp" })
	if ev.Allowed || ev.Count != 1 || ev.Addr != dsts[0] || !strings.Contains(ev.Reason, "only to the DNS server") {
		t.Errorf("event: %+v", ev)
	}
	// Control: the same query to the DNS server is answered.
	c, err := e.peer.DialUDP(netip.AddrPortFrom(netipDNS(), 53))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(q)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 512)); err != nil {
		t.Fatalf("UDP to the DNS server: %v", err)
	}
	// Every dropped datagram is counted, in the events of its window or
	// in the last one, on Close.
	st := e.att.(*attachment).st
	for deadline := time.Now().Add(10 * time.Second); st.Dropped() < uint64(len(dsts)); {
		if time.Now().After(deadline) {
			t.Fatalf("the stack dropped %d datagrams, want %d", st.Dropped(), len(dsts))
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.att.Close()
	total := 0
	for _, ev := range e.eventsOf("packet") {
		total += ev.Count
	}
	if total != len(dsts) {
		t.Errorf("packet events count %d datagrams, want %d", total, len(dsts))
	}
}

func TestICMPOnlyToTheGateway(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "0.0.0.0/0:*")), false)
	for _, dst := range []string{"8.8.8.8", "127.0.0.1", "10.0.2.5"} {
		ok, err := e.peer.Ping(netip.MustParseAddr(dst), 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Errorf("ping %s: a reply", dst)
		}
	}
	ev := e.waitEvent("packet icmp", func(ev Event) bool { return ev.Kind == "packet" && ev.Proto == "icmp" && ev.Addr == "8.8.8.8" })
	if ev.Allowed || ev.Count != 1 {
		t.Errorf("event: %+v", ev)
	}
	// Control: the gateway answers.
	ok, err := e.peer.Ping(netipGateway(), 10*time.Second)
	if err != nil || !ok {
		t.Fatalf("ping the gateway: %v %v", ok, err)
	}
}

func TestIPv6Dropped(t *testing.T) {
	e := newEnv(t, mustPolicy(t, mustRule(t, "0.0.0.0/0:*")), false)
	gw6, err := e.peer.EnableIPv6()
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.peer.Ping(gw6, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("ping over IPv6: a reply")
	}
	ev := e.waitEvent("packet ipv6", func(ev Event) bool { return ev.Kind == "packet" && ev.Proto == "ipv6" })
	if ev.Allowed || ev.Count < 1 {
		t.Errorf("event: %+v", ev)
	}
	// Control: the same over IPv4 is answered.
	if ok, err := e.peer.Ping(netipGateway(), 10*time.Second); err != nil || !ok {
		t.Fatalf("ping the gateway over IPv4: %v %v", ok, err)
	}
}

func TestPacketEventsCoalesced(t *testing.T) {
	e := newEnv(t, mustPolicy(t), false)
	c, err := e.peer.DialUDP(netip.MustParseAddrPort("8.8.8.8:53"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for range n {
		c.Write([]byte("flood"))
	}
	c.Close()
	e.waitEvent("packet udp", func(ev Event) bool { return ev.Kind == "packet" })
	st := e.att.(*attachment).st
	for deadline := time.Now().Add(10 * time.Second); st.Dropped() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("the stack dropped %d datagrams, want %d", st.Dropped(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Close flushes what was counted since the last event.
	e.att.Close()
	total := 0
	evs := e.eventsOf("packet")
	for _, ev := range evs {
		total += ev.Count
	}
	if total != n || len(evs) >= n/2 {
		t.Errorf("%d packet events counting %d packets, want a few counting %d", len(evs), total, n)
	}
}

func netipDNS() netip.Addr     { return netip.MustParseAddr("10.0.2.3") }
func netipGateway() netip.Addr { return netip.MustParseAddr("10.0.2.2") }

func dnsQuery(t testing.TB, name string) []byte {
	t.Helper()
	m := dnsmessage.Message{Header: dnsmessage.Header{ID: 7, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
