package netstack

import (
	"sync"
	"time"
)

// packetWindow is how often an event of one key (a kind of dropped packet,
// or one refusal) is reported at most: the first at once, the rest counted
// into the next event.
const packetWindow = time.Second

// maxRefusalKeys bounds the refusals the coalescer keeps apart; past it,
// those of a kind share one key (and the event is the last one's, with
// the Count of all).
const maxRefusalKeys = 1024

// coalescer rate-limits "packet" events (per protocol) and refused "dns"
// and "connect" events (per kind, name (or address, without one) and reason): at most one per key per
// packetWindow, whose Count says how many it stands for.
type coalescer struct {
	report func(Event)
	mu     sync.Mutex
	byKey  map[string]*pending
	// protos and refusals count the keys of each sort, for the bounds.
	protos, refusals int
}

type pending struct {
	last  time.Time
	count int
	ev    Event
}

func newCoalescer(report func(Event)) *coalescer {
	return &coalescer{report: report, byKey: make(map[string]*pending)}
}

func (c *coalescer) packet(proto, addr, reason string) {
	c.add(Event{Time: time.Now(), Kind: "packet", Proto: proto, Addr: addr, Reason: reason})
}

// refused reports ev, a refused "dns" or "connect" event, coalesced.
func (c *coalescer) refused(ev Event) { c.add(ev) }

func (c *coalescer) add(ev Event) {
	now := ev.Time
	c.mu.Lock()
	p := c.lookup(&ev, now)
	p.count++
	p.ev = ev
	if now.Sub(p.last) < packetWindow {
		c.mu.Unlock()
		return
	}
	ev.Count = p.count
	p.count = 0
	p.last = now
	c.mu.Unlock()
	c.report(ev)
}

// lookup returns ev's pending entry, making one within the bounds; it may
// change ev.Proto to "other" for a protocol past the bound. c.mu is held.
func (c *coalescer) lookup(ev *Event, now time.Time) *pending {
	key := ev.Kind + "\x00" + ev.Proto
	if ev.Kind != "packet" {
		// A refusal by name, or by address when there is no name.
		name := ev.Name
		if name == "" {
			name = ev.Addr
		}
		key = ev.Kind + "\x00" + name + "\x00" + ev.Reason
	}
	if p := c.byKey[key]; p != nil {
		return p
	}
	switch {
	case ev.Kind == "packet" && c.protos >= 64: // protocols are few; ethertypes could be many
		ev.Proto = "other"
		key = "packet\x00other"
	case ev.Kind != "packet" && c.refusals >= maxRefusalKeys:
		c.prune(now)
		if c.refusals >= maxRefusalKeys {
			key = ev.Kind + "\x00\x00many"
		}
	}
	if p := c.byKey[key]; p != nil {
		return p
	}
	p := &pending{}
	c.byKey[key] = p
	if ev.Kind == "packet" {
		c.protos++
	} else {
		c.refusals++
	}
	return p
}

// prune forgets the refusals with nothing counted whose window has passed:
// their next event would be reported at once anyway. c.mu is held.
func (c *coalescer) prune(now time.Time) {
	for k, p := range c.byKey {
		if p.ev.Kind != "packet" && p.count == 0 && now.Sub(p.last) >= packetWindow {
			delete(c.byKey, k)
			c.refusals--
		}
	}
}

// flush reports what was counted since each key's last event.
func (c *coalescer) flush() {
	c.mu.Lock()
	var evs []Event
	for _, p := range c.byKey {
		if p.count > 0 {
			ev := p.ev
			ev.Count = p.count
			p.count = 0
			evs = append(evs, ev)
		}
	}
	c.mu.Unlock()
	for _, ev := range evs {
		c.report(ev)
	}
}
