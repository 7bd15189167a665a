package egress_test

import (
	"fmt"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/egress"
)

// A policy that lets a sandbox install packages from PyPI and nothing else.
func Example() {
	var rules []egress.Rule
	for _, s := range []string{"pypi.org:443", "*.pythonhosted.org:443"} {
		r, err := egress.ParseRule(s)
		if err != nil {
			fmt.Println(err)
			return
		}
		rules = append(rules, r)
	}
	p, err := egress.NewPolicy(rules...)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Events = func(e egress.Event) {
		if !e.Allowed {
			fmt.Println("refused:", e.Kind, e.Name, e.Addr, e.Reason)
		}
	}
	opts := sandbox.Options{Network: sandbox.NetworkEgress, Egress: p}
	_ = opts // sandbox.New(opts) ...
	for _, r := range p.Rules() {
		fmt.Println(r)
	}
	// Output:
	// pypi.org:443
	// *.pythonhosted.org:443
}

func ExampleParseRule() {
	for _, s := range []string{"pypi.org:443", "10.0.0.0/8:*", "pypi.org"} {
		r, err := egress.ParseRule(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%q: host %q prefix %v port %d\n", r, r.Host, r.Prefix, r.Port)
	}
	// Output:
	// "pypi.org:443": host "pypi.org" prefix invalid Prefix port 443
	// "10.0.0.0/8:*": host "" prefix 10.0.0.0/8 port 0
	// egress: rule "pypi.org" has no port: write HOST:PORT, or HOST:* for any port
}
