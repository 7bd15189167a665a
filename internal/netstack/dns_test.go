package netstack

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// fakePolicy allows the names in allow (exactly) and records the events.
type fakePolicy struct {
	allow   map[string]bool
	discard bool // keep no events (fuzzing)
	mu      sync.Mutex
	events  []Event
}

func (f *fakePolicy) AllowName(name string) (bool, string) {
	if f.allow[name] {
		return true, "listed"
	}
	return false, "unlisted"
}
func (f *fakePolicy) AllowConn(string, netip.AddrPort) (bool, string) { return false, "no" }
func (f *fakePolicy) Dial(context.Context, string, netip.AddrPort) (net.Conn, error) {
	return nil, net.ErrClosed
}
func (f *fakePolicy) Report(e Event) {
	if f.discard {
		return
	}
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}

// dnsOnly is a Stack with what Answer needs and no gVisor stack.
func dnsOnly(max int, names ...string) (*Stack, *fakePolicy) {
	f := &fakePolicy{allow: make(map[string]bool)}
	for _, n := range names {
		f.allow[n] = true
	}
	return &Stack{cfg: Config{Policy: f, DNS: netip.MustParseAddr("10.0.2.3")}, names: newNames(max), events: newCoalescer(f.Report)}, f
}

func query(t *testing.T, h dnsmessage.Header, qs ...dnsmessage.Question) []byte {
	t.Helper()
	b, err := (&dnsmessage.Message{Header: h, Questions: qs}).Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func q(name string, typ dnsmessage.Type) dnsmessage.Question {
	return dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}
}

func TestAnswer(t *testing.T) {
	s, f := dnsOnly(2, "a.test", "b.test", "c.test")
	chaos := q("a.test.", dnsmessage.TypeA)
	chaos.Class = dnsmessage.ClassCHAOS
	for _, tc := range []struct {
		name  string
		msg   []byte
		nilOK bool
		rcode dnsmessage.RCode
		a     string
	}{
		{"A allowed", query(t, dnsmessage.Header{ID: 1}, q("a.test.", dnsmessage.TypeA)), false, dnsmessage.RCodeSuccess, "198.18.0.1"},
		{"A again, same address", query(t, dnsmessage.Header{ID: 2}, q("A.Test.", dnsmessage.TypeA)), false, dnsmessage.RCodeSuccess, "198.18.0.1"},
		{"AAAA allowed: empty", query(t, dnsmessage.Header{ID: 3}, q("a.test.", dnsmessage.TypeAAAA)), false, dnsmessage.RCodeSuccess, ""},
		{"TXT allowed: empty", query(t, dnsmessage.Header{ID: 3}, q("a.test.", dnsmessage.TypeTXT)), false, dnsmessage.RCodeSuccess, ""},
		{"second name", query(t, dnsmessage.Header{ID: 4}, q("b.test.", dnsmessage.TypeA)), false, dnsmessage.RCodeSuccess, "198.18.0.2"},
		{"table full", query(t, dnsmessage.Header{ID: 5}, q("c.test.", dnsmessage.TypeA)), false, dnsmessage.RCodeServerFailure, ""},
		{"unlisted", query(t, dnsmessage.Header{ID: 6}, q("x.test.", dnsmessage.TypeA)), false, dnsmessage.RCodeNameError, ""},
		{"unlisted AAAA", query(t, dnsmessage.Header{ID: 6}, q("x.test.", dnsmessage.TypeAAAA)), false, dnsmessage.RCodeNameError, ""},
		{"root", query(t, dnsmessage.Header{ID: 7}, q(".", dnsmessage.TypeA)), false, dnsmessage.RCodeNameError, ""},
		{"class CHAOS", query(t, dnsmessage.Header{ID: 8}, chaos), false, dnsmessage.RCodeNameError, ""},
		{"two questions", query(t, dnsmessage.Header{ID: 9}, q("a.test.", dnsmessage.TypeA), q("b.test.", dnsmessage.TypeA)), false, dnsmessage.RCodeFormatError, ""},
		{"no question", query(t, dnsmessage.Header{ID: 10}), false, dnsmessage.RCodeFormatError, ""},
		{"opcode status", query(t, dnsmessage.Header{ID: 11, OpCode: 2}, q("a.test.", dnsmessage.TypeA)), false, dnsmessage.RCodeNotImplemented, ""},
		{"a response", query(t, dnsmessage.Header{ID: 12, Response: true}, q("a.test.", dnsmessage.TypeA)), true, 0, ""},
		{"too short", []byte{1, 2, 3}, true, 0, ""},
		{"truncated question", query(t, dnsmessage.Header{ID: 13}, q("a.test.", dnsmessage.TypeA))[:16], false, dnsmessage.RCodeFormatError, ""},
	} {
		r := s.Answer(tc.msg, "udp")
		if tc.nilOK {
			if r != nil {
				t.Errorf("%s: answered %x, want no answer", tc.name, r)
			}
			continue
		}
		var m dnsmessage.Message
		if err := m.Unpack(r); err != nil {
			t.Errorf("%s: the answer does not parse: %v", tc.name, err)
			continue
		}
		var qh dnsmessage.Parser
		h, _ := qh.Start(tc.msg)
		if m.ID != h.ID || !m.Response || m.RCode != tc.rcode {
			t.Errorf("%s: header %+v, want ID %d, response, %v", tc.name, m.Header, h.ID, tc.rcode)
		}
		var got string
		for _, rr := range m.Answers {
			got = netip.AddrFrom4(rr.Body.(*dnsmessage.AResource).A).String()
			if rr.Header.TTL != NameTTL {
				t.Errorf("%s: TTL %d", tc.name, rr.Header.TTL)
			}
		}
		if got != tc.a || len(m.Answers) > 1 {
			t.Errorf("%s: answers %v, want %q", tc.name, m.Answers, tc.a)
		}
	}
	last := f.events[len(f.events)-1]
	s.events.flush() // "unlisted AAAA" was coalesced with "unlisted"
	var dns, refused int
	for _, e := range f.events {
		if e.Kind == "dns" {
			n := 1
			if !e.Allowed {
				n = e.Count
				refused += n
			}
			dns += n
		}
	}
	// One event per question answered; "two questions", "no question",
	// opcode, the response, too short and truncated ones have none.
	if dns != 10 || refused != 5 {
		t.Errorf("%d dns events, %d refused; want 10 and 5: %+v", dns, refused, f.events)
	}
	if !strings.HasPrefix(last.Reason, "only class IN") {
		t.Errorf("last event %+v", last)
	}
}

func FuzzAnswer(f *testing.F) {
	s, p := dnsOnly(64, "a.test", "b.test")
	p.discard = true
	for _, m := range [][]byte{
		mustPack(dnsmessage.Header{ID: 1}, q("a.test.", dnsmessage.TypeA)),
		mustPack(dnsmessage.Header{ID: 2}, q("x.test.", dnsmessage.TypeAAAA)),
		mustPack(dnsmessage.Header{ID: 3}, q("b.test.", dnsmessage.TypeMX), q("a.test.", dnsmessage.TypeA)),
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}, // a compression loop
	} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := s.Answer(msg, "udp")
		if r == nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(r)
		if err != nil {
			t.Fatalf("answer to %x does not parse: %v", msg, err)
		}
		if qh, _ := new(dnsmessage.Parser).Start(msg); h.ID != qh.ID || !h.Response {
			t.Fatalf("answer header %+v for query ID %d", h, qh.ID)
		}
		qs, err := p.AllQuestions()
		if err != nil || len(qs) > 1 {
			t.Fatalf("answer questions %v, %v", qs, err)
		}
	})
}

func mustPack(h dnsmessage.Header, qs ...dnsmessage.Question) []byte {
	b, err := (&dnsmessage.Message{Header: h, Questions: qs}).Pack()
	if err != nil {
		panic(err)
	}
	return b
}

func TestAnswerRefusesNonHostNames(t *testing.T) {
	bad := []string{"a\x00b.test", "a\r\nb.test", "a b.test", "a:80.test", "a/b.test", "u@a.test",
		"caf\xc3\xa9.test", "\xff.test", "*.test", "-a.test", "a-.test"}
	// The policy would allow each of them: the stack must not ask it.
	s, f := dnsOnly(64, append([]string{"ok.test", "o_k-1.test"}, bad...)...)
	for i, name := range bad {
		r := s.Answer(query(t, dnsmessage.Header{ID: uint16(i)}, q(name+".", dnsmessage.TypeA)), "udp")
		var m dnsmessage.Message
		if err := m.Unpack(r); err != nil {
			t.Fatalf("%q: the answer does not parse: %v", name, err)
		}
		if m.RCode != dnsmessage.RCodeRefused || len(m.Answers) != 0 {
			t.Errorf("%q: %v with %d answers, want REFUSED and none", name, m.RCode, len(m.Answers))
		}
		e := f.events[len(f.events)-1]
		if e.Allowed || !strings.HasPrefix(e.Reason, "not a host name") {
			t.Errorf("%q: event %+v, want refused, not a host name", name, e)
		}
		if want := strconv.QuoteToASCII(name + "."); e.Name != want {
			t.Errorf("%q: event Name %s, want %s", name, e.Name, want)
		}
		for _, c := range []byte(e.Name) {
			if c < 0x20 || c >= 0x7f {
				t.Errorf("%q: event Name %q has byte %#x", name, e.Name, c)
			}
		}
	}
	// Control: host names, in any case, are looked up and answered.
	for i, name := range []string{"ok.test", "OK.Test", "o_k-1.test"} {
		r := s.Answer(query(t, dnsmessage.Header{ID: uint16(100 + i)}, q(name+".", dnsmessage.TypeA)), "udp")
		var m dnsmessage.Message
		if err := m.Unpack(r); err != nil {
			t.Fatal(err)
		}
		if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 {
			t.Errorf("%q: %v with %d answers, want one", name, m.RCode, len(m.Answers))
		}
		if e := f.events[len(f.events)-1]; !e.Allowed || e.Name != strings.ToLower(name) {
			t.Errorf("%q: event %+v", name, e)
		}
	}
}

func TestCheckQueryName(t *testing.T) {
	for _, tc := range []struct {
		raw, want string // want "" for an error
	}{
		{"Pypi.ORG.", "pypi.org"}, {"a_b-c.d", "a_b-c.d"}, {strings.Repeat("a", 63) + ".test", strings.Repeat("a", 63) + ".test"},
		{strings.Repeat("a", 64) + ".test", ""}, {strings.Repeat("abcdefg.", 31) + "testab", ""},
		{"a..b", ""}, {"a\x00", ""}, {"xn--caf-dma.test", "xn--caf-dma.test"}, {"café.test", ""}, {"", ""},
	} {
		got, err := checkQueryName(tc.raw)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("checkQueryName(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
}
