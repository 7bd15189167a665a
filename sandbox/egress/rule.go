package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Rule is one allowed destination: a host name (possibly a wildcard) or an
// IPv4 prefix, and a port.
type Rule struct {
	// Host is a name ("pypi.org") or a wildcard ("*.githubusercontent.com":
	// any name ending in ".githubusercontent.com", at any depth, but not
	// "githubusercontent.com" itself); lower case, no trailing dot. Empty
	// for a Prefix rule.
	Host string
	// Prefix is an IPv4 CIDR (a bare IP is a /32), reached by address; the
	// zero Prefix for a Host rule. With the default Policy.Dial, an address
	// in the host's own networks (loopback, private, CGNAT, link-local, ...)
	// is reached only by a Prefix inside that network: 0.0.0.0/0 does not
	// open 127.0.0.1 or 10.0.0.1; 127.0.0.0/8 or 10.0.0.0/8 does.
	Prefix netip.Prefix
	// Port is the allowed port; 0 means any port.
	Port uint16
}

// ParseRule reads a rule in the form String writes: "pypi.org:443",
// "*.x.com:443", "pypi.org:*" (any port), "10.0.0.0/8:5432", "1.2.3.4:80".
// Names are made lower case and lose a trailing dot.
func ParseRule(s string) (Rule, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Rule{}, fmt.Errorf("egress: rule %q has no port: write HOST:PORT, or HOST:* for any port", s)
	}
	host, port := s[:i], s[i+1:]
	var r Rule
	switch {
	case port == "*":
	case port == "":
		return Rule{}, fmt.Errorf("egress: rule %q has an empty port: write HOST:PORT, or HOST:* for any port", s)
	default:
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return Rule{}, fmt.Errorf("egress: rule %q: port %q is not a number from 1 to 65535: write one, or * for any port", s, port)
		}
		r.Port = uint16(n)
	}
	if strings.ContainsAny(host, ":[]") {
		return Rule{}, fmt.Errorf("egress: rule %q: IPv6 is not served (the sandbox has only IPv4): use a name or an IPv4 address", s)
	}
	if host == "" {
		return Rule{}, fmt.Errorf("egress: rule %q has no host: write a name, *.domain, an IPv4 address or an IPv4 CIDR before the port", s)
	}
	if strings.Contains(host, "/") {
		p, err := netip.ParsePrefix(host)
		if err != nil || !p.Addr().Is4() {
			return Rule{}, fmt.Errorf("egress: rule %q: %q is not an IPv4 CIDR: write one like 10.0.0.0/8", s, host)
		}
		if p.Masked() != p {
			return Rule{}, fmt.Errorf("egress: rule %q: %v has bits set past its /%d: write %v", s, host, p.Bits(), p.Masked())
		}
		r.Prefix = p
		return r, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() {
			return Rule{}, fmt.Errorf("egress: rule %q: IPv6 is not served (the sandbox has only IPv4): use a name or an IPv4 address", s)
		}
		r.Prefix = netip.PrefixFrom(a, 32)
		return r, nil
	}
	name, err := checkName(host)
	if err != nil {
		return Rule{}, fmt.Errorf("egress: rule %q: %w", s, err)
	}
	r.Host = name
	return r, nil
}

// checkName returns host lower case without a trailing dot, or what is wrong
// with it.
func checkName(host string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	rest := strings.TrimPrefix(name, "*.")
	switch {
	case name == "*" || name == "*.":
		return "", fmt.Errorf("%q would allow every name: list the names (or *.domain)", host)
	case strings.Contains(rest, "*"):
		return "", fmt.Errorf("%q: a wildcard may only be the first label (*.example.com)", host)
	case len(name) > 253:
		return "", fmt.Errorf("%q is longer than a DNS name's 253 characters", host)
	case rest == "":
		return "", fmt.Errorf("%q has no name after the wildcard: write *.example.com", host)
	}
	for _, label := range strings.Split(rest, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%q has an empty or over-long (63) label: write a name like pypi.org", host)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%q has a label that starts or ends with '-': check the name", host)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q has %q, which no host name has: use letters, digits, '-' and '.' (IDNs in their xn-- form)", host, c)
			}
		}
	}
	return name, nil
}

// String returns the rule in the form ParseRule reads.
func (r Rule) String() string {
	port := "*"
	if r.Port != 0 {
		port = strconv.Itoa(int(r.Port))
	}
	switch {
	case r.Host != "":
		return r.Host + ":" + port
	case r.Prefix.IsValid() && r.Prefix.Bits() == 32:
		return r.Prefix.Addr().String() + ":" + port
	case r.Prefix.IsValid():
		return r.Prefix.String() + ":" + port
	}
	return "<empty rule>:" + port
}

// Validate reports what is wrong with r, a Rule built by hand, by the
// same checks as ParseRule: exactly one of Host and Prefix; Host a name or
// *.domain (letters, digits, '-', '_', labels of 1 to 63, at most 253 in
// all; case and a trailing dot do not matter); Prefix an IPv4 CIDR with no
// bits set past its length.
func (r Rule) Validate() error {
	switch {
	case r.Host != "" && r.Prefix.IsValid():
		return fmt.Errorf("egress: rule %q has both Host and Prefix: set one (a name, or an IPv4 CIDR), and make two rules for both", r.Host+" "+r.Prefix.String())
	case r.Host == "" && !r.Prefix.IsValid():
		return errors.New("egress: rule has neither Host nor Prefix: set Host to a name (or *.domain) or Prefix to an IPv4 CIDR")
	case r.Prefix.IsValid() && !r.Prefix.Addr().Is4():
		return fmt.Errorf("egress: rule Prefix %v: IPv6 is not served (the sandbox has only IPv4): use an IPv4 CIDR", r.Prefix)
	case r.Prefix.IsValid() && r.Prefix.Masked() != r.Prefix:
		return fmt.Errorf("egress: rule Prefix %v has bits set past its /%d: write %v", r.Prefix, r.Prefix.Bits(), r.Prefix.Masked())
	case r.Host != "":
		if _, err := netip.ParseAddr(r.Host); err == nil {
			return fmt.Errorf("egress: rule Host %q is an address: set Prefix (netip.PrefixFrom(addr, 32)) instead", r.Host)
		}
		if _, err := checkName(r.Host); err != nil {
			return fmt.Errorf("egress: rule Host: %w", err)
		}
	}
	return nil
}

// matchName reports whether r, a Host rule, covers name (lower case, no
// trailing dot). A wildcard is only ever "*.domain" (Validate sees to it);
// anything else with a '*' matches nothing.
func (r Rule) matchName(name string) bool {
	if r.Host == "" || name == "" {
		return false
	}
	if suffix, ok := strings.CutPrefix(r.Host, "*."); ok {
		return suffix != "" && !strings.Contains(suffix, "*") &&
			len(name) > len(suffix)+1 && strings.HasSuffix(name, "."+suffix)
	}
	if strings.Contains(r.Host, "*") {
		return false
	}
	return name == r.Host
}

// matchPort reports whether r allows port.
func (r Rule) matchPort(port uint16) bool { return r.Port == 0 || r.Port == port }

// matchAddr reports whether r, a Prefix rule, covers a.
func (r Rule) matchAddr(a netip.Addr) bool {
	return r.Host == "" && r.Prefix.IsValid() && r.Prefix.Contains(a.Unmap())
}

// normalize makes a Rule built by hand comparable to a parsed one: lower
// case, no trailing dot, a masked prefix.
func (r Rule) normalize() Rule {
	r.Host = strings.TrimSuffix(strings.ToLower(r.Host), ".")
	if r.Prefix.IsValid() {
		r.Prefix = r.Prefix.Masked()
	}
	return r
}
