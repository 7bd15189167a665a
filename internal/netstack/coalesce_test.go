package netstack

import (
	"strconv"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestRefusalsCoalesced(t *testing.T) {
	s, f := dnsOnly(64, "ok.test")
	for i := range 1000 {
		s.Answer(query(t, dnsmessage.Header{ID: uint16(i)}, q("x.test.", dnsmessage.TypeA)), "udp")
	}
	// Control: allowed queries are each reported.
	for i := range 5 {
		s.Answer(query(t, dnsmessage.Header{ID: uint16(i)}, q("ok.test.", dnsmessage.TypeA)), "udp")
	}
	count := func() (allowed, refused, refusedCount int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, e := range f.events {
			if e.Allowed {
				allowed++
			} else {
				refused++
				refusedCount += e.Count
			}
		}
		return
	}
	a, r, rc := count()
	if a != 5 || r != 1 || rc != 1 {
		t.Fatalf("before flush: %d allowed, %d refused events standing for %d; want 5, 1, 1", a, r, rc)
	}
	s.events.flush()
	a, r, rc = count()
	if a != 5 || r != 2 || rc != 1000 {
		t.Fatalf("after flush: %d allowed, %d refused events standing for %d; want 5, 2, 1000", a, r, rc)
	}

	// Refused connects too, keyed by name and reason.
	var got []Event
	c := newCoalescer(func(e Event) { got = append(got, e) })
	s = &Stack{cfg: Config{Policy: f}, events: c}
	for range 100 {
		s.report(Event{Kind: "connect", Name: "a.test", Reason: "no rule allows a.test:80"})
		s.report(Event{Kind: "connect", Name: "a.test", Reason: "no rule allows a.test:81"})
	}
	if len(got) != 2 {
		t.Fatalf("%d connect events for 2 refusals x 100; want 2: %+v", len(got), got)
	}
	// The map stays bounded however many names are refused.
	for i := range 5 * maxRefusalKeys {
		s.report(Event{Kind: "dns", Name: strconv.Itoa(i) + ".test", Reason: "unlisted"})
	}
	c.mu.Lock()
	n := len(c.byKey)
	c.mu.Unlock()
	if n > maxRefusalKeys+1 {
		t.Fatalf("%d keys kept; want at most %d", n, maxRefusalKeys+1)
	}
	c.flush()
	var total int
	for _, e := range got {
		if e.Kind == "dns" {
			total += e.Count
		}
	}
	if total != 5*maxRefusalKeys {
		t.Fatalf("dns events stand for %d refusals; want %d", total, 5*maxRefusalKeys)
	}
}
