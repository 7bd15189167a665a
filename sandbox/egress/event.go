package egress

import (
	"time"

	"github.com/corral-dev/corral/internal/netstack"
)

// Event is one thing a sandbox's network did: a DNS query, a connection
// attempt, a connection's end, or dropped packets. The CLI writes one per
// line as JSON.
type Event struct {
	Time time.Time `json:"time"`
	// Sandbox is the sandbox's Link.ID.
	Sandbox string `json:"sandbox"`
	// Kind is "dns" (a query), "connect" (a TCP connection attempt),
	// "close" (an allowed connection's end) or "packet" (refused UDP,
	// ICMP, IPv6 or other traffic, dropped).
	Kind string `json:"kind"`
	// Proto is "tcp", "udp", "icmp", "ipv6", "ip-proto-N" or
	// "ethertype-0xNNNN".
	Proto string `json:"proto"`
	// Name is the name queried, or the name the address came from.
	Name string `json:"name,omitempty"`
	// Addr is the destination as the sandbox saw it: ip:port (ip alone for
	// ICMP and other protocols without ports).
	Addr string `json:"addr,omitempty"`
	// Allowed says whether the query was answered or the connection made.
	// A connection the policy allowed but the host's dial failed is not
	// allowed: Reason has the dial's error.
	Allowed bool `json:"allowed"`
	// Reason is why it was refused, or the rule that allowed it ("rule
	// pypi.org:443"); on "close", why it was closed from outside
	// ("revoked", "attachment closed"), empty when either side ended it.
	Reason string `json:"reason,omitempty"`
	// QType is a "dns" event's query type: "A", "AAAA", "MX", ...
	QType string `json:"qtype,omitempty"`
	// Count is how many dropped packets a "packet" event, or refusals a
	// refused "dns" or "connect" event, stands for: per protocol (packets)
	// or per kind, name (the address when there is none) and reason
	// (refusals), at most one event a second
	// is reported; the ones between are counted into the next one (and
	// into a last one when the attachment closes). Allowed events are one
	// each, with Count 0. Past 1024 distinct refusals within a second, the
	// new ones of a kind share one event (the last one's, with their Count).
	Count int `json:"count,omitempty"`
	// BytesOut and BytesIn are a "close" event's bytes from and to the
	// sandbox.
	BytesOut int64 `json:"bytes_out,omitempty"`
	BytesIn  int64 `json:"bytes_in,omitempty"`
	// Duration is how long a closed connection lived (nanoseconds in
	// JSON).
	Duration time.Duration `json:"duration,omitempty"`
}

func eventFrom(id string, e netstack.Event) Event {
	return Event{
		Time: e.Time, Sandbox: id, Kind: e.Kind, Proto: e.Proto, Name: e.Name, Addr: e.Addr,
		Allowed: e.Allowed, Reason: e.Reason, QType: e.QType, Count: e.Count,
		BytesOut: e.Out, BytesIn: e.In, Duration: e.Elapsed,
	}
}
