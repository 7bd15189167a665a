package netstack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func goodConfig(t *testing.T) Config {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	return Config{File: r, MTU: 65520, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x64},
		Addr: netip.MustParsePrefix("10.0.2.100/24"), Gateway: netip.MustParseAddr("10.0.2.2"),
		DNS: netip.MustParseAddr("10.0.2.3"), Policy: &fakePolicy{}}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no file", func(c *Config) { c.File.Close(); c.File = nil }, "Config.File is nil"},
		{"no policy", func(c *Config) { c.Policy = nil }, "Config.Policy is nil"},
		{"MTU", func(c *Config) { c.MTU = 100 }, "Config.MTU 100 is out of range: use 576 to 65521"},
		{"MAC", func(c *Config) { c.MAC = nil }, "Config.MAC"},
		{"Addr", func(c *Config) { c.Addr = netip.MustParsePrefix("fd00::1/64") }, "not an IPv4 prefix"},
		{"Gateway", func(c *Config) { c.Gateway = netip.MustParseAddr("10.0.3.2") }, "Config.Gateway 10.0.3.2 is not an IPv4 address in 10.0.2.100/24"},
		{"DNS", func(c *Config) { c.DNS = netip.Addr{} }, "Config.DNS"},
		{"same address", func(c *Config) { c.Addr = netip.MustParsePrefix("10.0.2.2/24") }, "give the sandbox its own"},
		{"MaxConns", func(c *Config) { c.MaxConns = -1 }, "is negative"},
	} {
		c := goodConfig(t)
		f := c.File
		tc.change(&c)
		_, err := New(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		// New owns the file even when it fails.
		if err := f.Close(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s: the file was not closed: %v", tc.name, err)
		}
	}
}

func TestCloseTwiceAndDialAfterClose(t *testing.T) {
	c := goodConfig(t)
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.DialContext(context.Background(), 80); !errors.Is(err, ErrClosed) {
		t.Fatalf("DialContext after Close: %v", err)
	}
	if err := c.File.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Close did not close the file: %v", err)
	}
}

func TestCoalescer(t *testing.T) {
	var got []Event
	c := newCoalescer(func(e Event) { got = append(got, e) })
	for range 100 {
		c.packet("udp", "1.2.3.4:53", "no")
	}
	c.packet("icmp", "1.2.3.4", "no")
	if len(got) != 2 || got[0].Count != 1 || got[1].Proto != "icmp" {
		t.Fatalf("before flush: %+v", got)
	}
	c.flush()
	if len(got) != 3 || got[2].Count != 99 || got[2].Proto != "udp" {
		t.Fatalf("after flush: %+v", got)
	}
	c.flush()
	if len(got) != 3 {
		t.Fatalf("a second flush reported again: %+v", got)
	}
	// Many ethertypes share one "other" key past 64 kinds.
	for i := range 200 {
		c.packet("ethertype-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "", "no")
	}
	if n := len(c.byKey); n > 65 {
		t.Fatalf("%d kinds kept", n)
	}
}

func TestNamesTable(t *testing.T) {
	n := newNames(3)
	a, _ := n.addr("a")
	b, _ := n.addr("b")
	if a.String() != "198.18.0.1" || b.String() != "198.18.0.2" {
		t.Fatalf("addresses %v %v", a, b)
	}
	if again, _ := n.addr("a"); again != a {
		t.Fatal("a second lookup gave another address")
	}
	if name, ok := n.name(b); !ok || name != "b" {
		t.Fatalf("name(%v) = %q %v", b, name, ok)
	}
	n.addr("c")
	if _, err := n.addr("d"); !errors.Is(err, errNamesFull) {
		t.Fatalf("a 4th name: %v", err)
	}
	if _, ok := n.name(netip.MustParseAddr("198.18.0.9")); ok {
		t.Fatal("an address never handed out maps to a name")
	}
	big := newNames(1 << 20)
	if big.max != 1<<17-2 {
		t.Fatalf("max %d", big.max)
	}
}
