package netstack

import (
	"errors"
	"net/netip"
	"sync"
)

// SyntheticRange is where DNS's synthetic addresses come from: 198.18.0.0/15,
// RFC 2544's benchmarking range, never routed on the Internet.
var SyntheticRange = netip.MustParsePrefix("198.18.0.0/15")

var errNamesFull = errors.New("the sandbox's name table is full")

// names maps the names DNS answered for to synthetic addresses and back,
// one address per name, for the life of the Stack.
type names struct {
	mu     sync.Mutex
	max    int
	byName map[string]netip.Addr
	byAddr map[netip.Addr]string
}

func newNames(max int) *names {
	// The range has 2^17 addresses; .0 and the last are not handed out.
	max = min(max, 1<<17-2)
	return &names{max: max, byName: make(map[string]netip.Addr), byAddr: make(map[netip.Addr]string)}
}

// addr returns name's synthetic address, handing out the next one the first
// time.
func (n *names) addr(name string) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.byName[name]; ok {
		return a, nil
	}
	if len(n.byName) >= n.max {
		return netip.Addr{}, errNamesFull
	}
	base := SyntheticRange.Addr().As4()
	i := uint32(len(n.byName) + 1)
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += i
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	n.byName[name] = a
	n.byAddr[a] = name
	return a, nil
}

// name returns the name a was handed out for.
func (n *names) name(a netip.Addr) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	name, ok := n.byAddr[a]
	return name, ok
}
