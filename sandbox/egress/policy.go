package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/corral-dev/corral/internal/netstack"
	"github.com/corral-dev/corral/sandbox"
)

// Policy is an egress allowlist and the user-mode network that enforces
// it: a sandbox.Egress (set it as sandbox.Options.Egress). One Policy may
// serve many sandboxes; its rules may change while they run.
//
// Set the fields before the first Attach; they are read without locking.
type Policy struct {
	// Dial makes the host's connections for allowed ones. The address is
	// "name:port" for a Host rule (the name the sandbox resolved), and
	// "ip:port" for a Prefix rule. nil means a net.Dialer using Resolver
	// that dials IPv4 only ("tcp4") and whose Control refuses every IPv6
	// address, and the host's own networks (loopback 127/8, private 10/8,
	// 172.16/12 and 192.168/16, CGNAT 100.64/10, link-local 169.254/16,
	// multicast, broadcast and "this network" 0/8) unless a Prefix rule
	// that covers the address and port lies inside that network: the user
	// named it. So 10.0.0.0/8:5432 opens 10.1.2.3:5432, but 0.0.0.0/0:443
	// opens neither 127.0.0.1:443 nor 169.254.169.254:443, and a name cannot
	// lead to the host's own network (DNS rebinding included, as the check
	// is on the address dialed). A set Dial is trusted as is.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Resolver resolves names for the default Dial; nil means
	// net.DefaultResolver.
	Resolver *net.Resolver
	// Events receives every DNS query and connection, allowed or refused,
	// and the dropped packets (refusals and packets coalesced: see
	// Event.Count). It is called
	// from the network's goroutines, concurrently: it must be safe for
	// that and must not block for long. nil means none.
	Events func(Event)
	// CheckSNI, when set, holds a connection to a name to TLS: if the
	// sandbox's first bytes are a TLS ClientHello, its server name must be
	// the name the address came from, or the connection is closed before
	// anything reaches the host. Other protocols pass.
	CheckSNI bool
	// MaxConns caps each sandbox's live TCP connections; 0 means 512.
	MaxConns int

	mu    sync.RWMutex
	rules []Rule
	atts  map[*attachment]struct{}
}

// NewPolicy returns a Policy that allows rules and nothing else, or the
// first rule's error from Rule.Validate.
func NewPolicy(rules ...Rule) (*Policy, error) {
	p := &Policy{}
	if err := p.Allow(rules...); err != nil {
		return nil, err
	}
	return p, nil
}

// Allow adds rules. It is safe while sandboxes run: their next DNS queries
// and connections see them. It validates every rule first (Rule.Validate)
// and, if one is wrong, returns its error and adds none.
func (p *Policy) Allow(rules ...Rule) error {
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rules {
		r = r.normalize()
		if !slices.Contains(p.rules, r) {
			p.rules = append(p.rules, r)
		}
	}
	return nil
}

// Revoke removes rules (each equal to one Allow added), and closes the live
// connections that no rule allows any more.
func (p *Policy) Revoke(rules ...Rule) {
	p.mu.Lock()
	for _, r := range rules {
		r = r.normalize()
		p.rules = slices.DeleteFunc(p.rules, func(x Rule) bool { return x == r })
	}
	atts := make([]*attachment, 0, len(p.atts))
	for a := range p.atts {
		atts = append(atts, a)
	}
	p.mu.Unlock()
	for _, a := range atts {
		a.st.Recheck()
	}
}

// Rules returns a copy of the rules in the order they were allowed.
func (p *Policy) Rules() []Rule {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.rules)
}

// Attach serves link, one sandbox's, until the Attachment is closed: it
// implements sandbox.Egress. It owns link.File from then on, even when it
// fails.
func (p *Policy) Attach(link *sandbox.Link) (sandbox.Attachment, error) {
	if link == nil {
		return nil, errors.New("egress: Attach: the link is nil: package sandbox passes the sandbox's link")
	}
	a := &attachment{p: p, id: link.ID}
	cfg := netstack.Config{
		File: link.File, MTU: link.MTU, MAC: link.MAC, Addr: link.Addr,
		Gateway: link.Gateway, DNS: link.DNS, Policy: a, MaxConns: p.MaxConns,
	}
	if p.CheckSNI {
		cfg.CheckSNI = true
	}
	st, err := netstack.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("egress: attaching sandbox %q: %w", link.ID, err)
	}
	a.st = st
	p.mu.Lock()
	if p.atts == nil {
		p.atts = make(map[*attachment]struct{})
	}
	p.atts[a] = struct{}{}
	p.mu.Unlock()
	return a, nil
}

// allowName returns the first rule that allows name.
func (p *Policy) allowName(name string) (Rule, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, r := range p.rules {
		if r.matchName(name) {
			return r, true
		}
	}
	return Rule{}, false
}

// allowConn returns the first rule that allows a connection to name's port
// (name != "") or to dst.
func (p *Policy) allowConn(name string, dst netip.AddrPort) (Rule, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, r := range p.rules {
		if !r.matchPort(dst.Port()) {
			continue
		}
		if name != "" && r.matchName(name) || name == "" && r.matchAddr(dst.Addr()) {
			return r, true
		}
	}
	return Rule{}, false
}

// attachment is one sandbox's network: the netstack and its policy.
type attachment struct {
	p  *Policy
	id string
	st *netstack.Stack
}

// DialContext implements sandbox.Attachment: a connection to port on the
// sandbox's address, from the host's end of the link.
func (a *attachment) DialContext(ctx context.Context, port int) (net.Conn, error) {
	c, err := a.st.DialContext(ctx, port)
	if err != nil {
		return nil, fmt.Errorf("egress: sandbox %q: %w", a.id, err)
	}
	return c, nil
}

// Close implements sandbox.Attachment.
func (a *attachment) Close() error {
	a.p.mu.Lock()
	delete(a.p.atts, a)
	a.p.mu.Unlock()
	return a.st.Close()
}

// AllowName implements netstack.Policy.
func (a *attachment) AllowName(name string) (bool, string) {
	if r, ok := a.p.allowName(name); ok {
		return true, "rule " + r.String()
	}
	return false, "no rule allows the name"
}

// AllowConn implements netstack.Policy.
func (a *attachment) AllowConn(name string, dst netip.AddrPort) (bool, string) {
	if r, ok := a.p.allowConn(name, dst); ok {
		return true, "rule " + r.String()
	}
	if name != "" {
		return false, "no rule allows " + net.JoinHostPort(name, strconv.Itoa(int(dst.Port())))
	}
	return false, "no rule allows the address " + dst.String() + " (an address needs a Prefix rule; names get theirs from the sandbox's DNS)"
}

// Dial implements netstack.Policy.
func (a *attachment) Dial(ctx context.Context, name string, dst netip.AddrPort) (net.Conn, error) {
	addr := dst.String()
	if name != "" {
		addr = net.JoinHostPort(name, strconv.Itoa(int(dst.Port())))
	}
	if a.p.Dial != nil {
		return a.p.Dial(ctx, "tcp", addr)
	}
	return a.p.defaultDial(ctx, addr)
}

// Report implements netstack.Policy.
func (a *attachment) Report(e netstack.Event) {
	if a.p.Events != nil {
		a.p.Events(eventFrom(a.id, e))
	}
}
