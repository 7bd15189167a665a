package egress

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rule
		str  string
	}{
		{"pypi.org:443", Rule{Host: "pypi.org", Port: 443}, "pypi.org:443"},
		{"PyPI.org.:443", Rule{Host: "pypi.org", Port: 443}, "pypi.org:443"},
		{"*.x.com:443", Rule{Host: "*.x.com", Port: 443}, "*.x.com:443"},
		{"pypi.org:*", Rule{Host: "pypi.org"}, "pypi.org:*"},
		{"files.pythonhosted.org:65535", Rule{Host: "files.pythonhosted.org", Port: 65535}, "files.pythonhosted.org:65535"},
		{"_dmarc.x-y.com:53", Rule{Host: "_dmarc.x-y.com", Port: 53}, "_dmarc.x-y.com:53"},
		{"localhost:8080", Rule{Host: "localhost", Port: 8080}, "localhost:8080"},
		{"10.0.0.0/8:5432", Rule{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Port: 5432}, "10.0.0.0/8:5432"},
		{"1.2.3.4:80", Rule{Prefix: netip.MustParsePrefix("1.2.3.4/32"), Port: 80}, "1.2.3.4:80"},
		{"1.2.3.4/32:80", Rule{Prefix: netip.MustParsePrefix("1.2.3.4/32"), Port: 80}, "1.2.3.4:80"},
		{"0.0.0.0/0:*", Rule{Prefix: netip.MustParsePrefix("0.0.0.0/0")}, "0.0.0.0/0:*"},
	} {
		got, err := ParseRule(tc.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseRule(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if got.String() != tc.str {
			t.Errorf("ParseRule(%q).String() = %q, want %q", tc.in, got.String(), tc.str)
		}
		if again, err := ParseRule(got.String()); err != nil || again != got {
			t.Errorf("ParseRule(%q) (round trip) = %+v, %v", got.String(), again, err)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	for _, tc := range []struct {
		in string
		// problem and fix are both in the message.
		problem, fix string
	}{
		{"pypi.org", "has no port", "HOST:* for any port"},
		{"pypi.org:", "empty port", "HOST:* for any port"},
		{":443", "has no host", "write a name"},
		{"pypi.org:0", `port "0" is not a number from 1 to 65535`, "or * for any port"},
		{"pypi.org:65536", "not a number from 1 to 65535", "or * for any port"},
		{"pypi.org:https", "not a number", "or * for any port"},
		{"*:443", "would allow every name", "list the names"},
		{"*.:443", "would allow every name", "list the names"},
		{"a.*.com:443", "wildcard may only be the first label", "*.example.com"},
		{"*x.com:443", "wildcard may only be the first label", "*.example.com"},
		{"pypi..org:443", "empty or over-long", "write a name"},
		{"-pypi.org:443", "starts or ends with '-'", "check the name"},
		{"py pi.org:443", "which no host name has", "xn-- form"},
		{"bücher.de:443", "which no host name has", "xn-- form"},
		{strings.Repeat("a", 64) + ".com:443", "empty or over-long", "write a name"},
		{strings.Repeat("a.", 127) + "com:443", "longer than a DNS name's 253", ""},
		{"[::1]:443", "IPv6 is not served", "IPv4 address"},
		{"::1:443", "IPv6 is not served", "IPv4 address"},
		{"10.0.0.1/8:443", "bits set past its /8", "write 10.0.0.0/8"},
		{"10.0.0.0/33:443", "is not an IPv4 CIDR", "like 10.0.0.0/8"},
		{"fd00::/8:443", "IPv6 is not served", ""},
		{"1.2.3/8:443", "is not an IPv4 CIDR", "like 10.0.0.0/8"},
	} {
		_, err := ParseRule(tc.in)
		if err == nil {
			t.Errorf("ParseRule(%q): no error", tc.in)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "egress: rule ") || !strings.Contains(msg, tc.problem) || !strings.Contains(msg, tc.fix) {
			t.Errorf("ParseRule(%q): %q, want it to say %q and %q", tc.in, msg, tc.problem, tc.fix)
		}
	}
}

func TestRuleStringZero(t *testing.T) {
	if got := (Rule{}).String(); got != "<empty rule>:*" {
		t.Errorf("Rule{}.String() = %q", got)
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"pypi.org:443", "*.x.com:*", "10.0.0.0/8:5432", "1.2.3.4:80", "[::1]:1", ":", "*:*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		again, err := ParseRule(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRule(%q) = %+v; its String %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}

func TestRuleValidate(t *testing.T) {
	for _, tc := range []struct {
		r    Rule
		want string // "" for valid
	}{
		{Rule{Host: "pypi.org", Port: 443}, ""},
		{Rule{Host: "Pypi.ORG."}, ""},
		{Rule{Host: "*.example.com", Port: 443}, ""},
		{Rule{Prefix: netip.MustParsePrefix("10.0.0.0/8")}, ""},
		{Rule{Host: "*example.com", Port: 443}, "wildcard may only be the first label"},
		{Rule{Host: "*"}, "would allow every name"},
		{Rule{Host: "*."}, "would allow every name"},
		{Rule{Host: "a.*.com"}, "wildcard may only be the first label"},
		{Rule{Host: "ex ample.com"}, "which no host name has"},
		{Rule{Host: "-a.com"}, "starts or ends with '-'"},
		{Rule{Host: "a..com"}, "empty or over-long"},
		{Rule{Host: strings.Repeat("a", 64) + ".com"}, "empty or over-long"},
		{Rule{Host: "1.2.3.4"}, "is an address: set Prefix"},
		{Rule{}, "neither Host nor Prefix"},
		{Rule{Port: 80}, "neither Host nor Prefix"},
		{Rule{Host: "a.com", Prefix: netip.MustParsePrefix("10.0.0.0/8")}, "both Host and Prefix"},
		{Rule{Prefix: netip.MustParsePrefix("10.1.2.3/8")}, "bits set past its /8: write 10.0.0.0/8"},
		{Rule{Prefix: netip.MustParsePrefix("::/0")}, "IPv6 is not served"},
	} {
		err := tc.r.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: Validate: %v, want nil", tc.r, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: Validate: %v, want an error with %q", tc.r, err, tc.want)
		}
	}
}

func TestNewPolicyValidates(t *testing.T) {
	for _, bad := range []Rule{{Host: "*example.com", Port: 443}, {Host: "*"}} {
		if p, err := NewPolicy(Rule{Host: "ok.test"}, bad); err == nil || p != nil {
			t.Errorf("NewPolicy(ok, %+v) = %v, %v; want nil and an error", bad, p, err)
		}
	}
	p, err := NewPolicy(Rule{Host: "ok.test", Port: 443}) // control
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Allow(Rule{Host: "new.test"}, Rule{Host: "*example.com"}); err == nil {
		t.Error("Allow(good, *example.com) = nil; want an error")
	}
	if got := p.Rules(); len(got) != 1 || got[0].String() != "ok.test:443" {
		t.Errorf("after a failed Allow, Rules = %v; want only ok.test:443 (all or nothing)", got)
	}
	if _, ok := p.allowName("attackerexample.com"); ok {
		t.Error("attackerexample.com allowed")
	}
	if err := p.Allow(Rule{Host: "new.test"}); err != nil { // control
		t.Fatal(err)
	}
	if _, ok := p.allowName("new.test"); !ok {
		t.Error("new.test not allowed after Allow")
	}
}

func TestMatchNameNeedsStarDot(t *testing.T) {
	for _, tc := range []struct {
		host, name string
		want       bool
	}{
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "attackerexample.com", false},
		{"*example.com", "attackerexample.com", false}, // unvalidated, still refused
		{"*example.com", "a.example.com", false},
		{"*", "anything.com", false},
		{"*.", "anything.com", false},
		{"a.*.com", "a.b.com", false},
		{"pypi.org", "pypi.org", true},
	} {
		if got := (Rule{Host: tc.host}).matchName(tc.name); got != tc.want {
			t.Errorf("Rule{Host: %q}.matchName(%q) = %v, want %v", tc.host, tc.name, got, tc.want)
		}
	}
}
