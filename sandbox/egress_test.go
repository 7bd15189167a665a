package sandbox_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// egressHelper runs inside a NetworkEgress sandbox: it prints what it
// sees of eth0, the routes, IPv6 and resolv.conf, and with "connect"
// tries 10.0.2.2:80.
func egressHelper(args []string) int {
	i, err := net.InterfaceByName("eth0")
	if err != nil {
		fmt.Println("eth0:", err)
		return 1
	}
	fmt.Printf("mtu %d\nmac %s\nup %v\n", i.MTU, i.HardwareAddr, i.Flags&net.FlagUp != 0)
	addrs, _ := i.Addrs()
	for _, a := range addrs {
		fmt.Println("addr", a)
	}
	routes, err := os.ReadFile("/proc/net/route")
	if err != nil {
		fmt.Println("route:", err)
	}
	for _, l := range strings.Split(string(routes), "\n")[1:] {
		if f := strings.Fields(l); len(f) >= 8 {
			fmt.Println("route", f[0], f[1], f[2], f[7]) // iface, destination, gateway, mask (hex, little-endian)
		}
	}
	for _, c := range []string{"all", "default", "eth0", "lo"} {
		b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + c + "/disable_ipv6")
		fmt.Printf("disable_ipv6 %s %s %v\n", c, strings.TrimSpace(string(b)), err)
	}
	inet6, _ := os.ReadFile("/proc/net/if_inet6")
	fmt.Printf("if_inet6 %q\n", inet6)
	resolv, err := os.ReadFile("/etc/resolv.conf")
	fmt.Printf("resolv.conf %q %v\n", resolv, err)
	if len(args) > 0 && args[0] == "connect" {
		_, err := net.DialTimeout("tcp", "10.0.2.2:80", 2*time.Second)
		fmt.Println("connect:", err)
	}
	return 0
}

// requireTun skips a test of NetworkEgress where /dev/net/tun cannot be
// used (TestEgressNoTun checks the error a sandbox then gives).
func requireTun(t *testing.T) {
	t.Helper()
	requireSandbox(t)
	if f, _ := sandbox.Check().Feature("tun"); !f.Available {
		t.Skipf("NetworkEgress cannot run here as uid %d: %s (fix: %s); TestEgressNoTun checks the sandbox's error", os.Geteuid(), f.Detail, f.Fix)
	}
}

// egressOpts are the options of a NetworkEgress sandbox served by e, with
// the test binary at /probe.
func egressOpts(t *testing.T, e sandbox.Egress) sandbox.Options {
	return sandbox.Options{Network: sandbox.NetworkEgress, Egress: e, Mounts: []sandbox.Mount{probe(t)}}
}

// lines returns the values of out's lines that start with key and a
// space.
func lines(out, key string) []string {
	var vs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+" "); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

func TestEgressLink(t *testing.T) {
	requireTun(t)
	e := newFakeEgress()
	out, errs, res := run(t, egressOpts(t, e), helperCmd("egress", "connect"))
	if !res.Success() {
		t.Fatalf("helper: %v\n%s%s", res, out, errs)
	}
	t.Logf("inside:\n%s", out)
	want := map[string]string{"mtu": "65520", "mac": "02:00:00:00:00:64", "up": "true", "addr": "10.0.2.100/24",
		"disable_ipv6 all": "0 <nil>", "disable_ipv6 lo": "0 <nil>", "disable_ipv6 default": "1 <nil>", "disable_ipv6 eth0": "1 <nil>",
		"resolv.conf": `"nameserver 10.0.2.3\noptions edns0 trust-ad\n" <nil>`}
	for k, v := range want {
		if got := lines(out, k); len(got) != 1 || got[0] != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	// IPv6 addresses: lo's ::1, as in a NetworkNone sandbox; none on eth0.
	if v6 := lines(out, "if_inet6"); len(v6) != 1 || !strings.Contains(v6[0], "00000000000000000000000000000001") || strings.Contains(v6[0], "eth0") {
		t.Errorf("if_inet6: %q, want lo's ::1 alone", v6)
	}
	// /proc/net/route: hex, little-endian. The default route via
	// 10.0.2.2 (0202000A), and the subnet's (0002000A/00FFFFFF).
	routes := lines(out, "route")
	for _, r := range []string{"eth0 00000000 0202000A 00000000", "eth0 0002000A 00000000 00FFFFFF"} {
		if !strings.Contains(strings.Join(routes, "\n"), r) {
			t.Errorf("routes %q lack %q", routes, r)
		}
	}
	if c := lines(out, "connect:"); len(c) != 1 || !strings.Contains(c[0], "timeout") {
		t.Errorf("connect to 10.0.2.2:80 with nothing answering: %q, want a timeout", c)
	}
	// The connect's ARP request for the gateway reached the host's end.
	mac, _ := net.ParseMAC("02:00:00:00:00:64")
	addr, gw := netip.MustParseAddr("10.0.2.100"), netip.MustParseAddr("10.0.2.2")
	if e.waitFrame(t, 5*time.Second, func(f []byte) bool { return isARPRequest(f, mac, addr, gw) }) == nil {
		t.Errorf("no ARP request for 10.0.2.2 from 10.0.2.100 reached the Egress")
	}
	// Control of the matcher: no request for another address came.
	if e.waitFrame(t, 0, func(f []byte) bool { return isARPRequest(f, mac, addr, netip.MustParseAddr("10.0.2.3")) }) != nil {
		t.Errorf("an ARP request for 10.0.2.3, which nothing asked for")
	}
	// IPv6 is off: not one IPv6 frame (router or neighbour solicitation).
	if f := e.waitFrame(t, 0, func(f []byte) bool { return len(f) >= 14 && f[12] == 0x86 && f[13] == 0xdd }); f != nil {
		t.Errorf("an IPv6 frame left the sandbox: % x", f[:min(len(f), 64)])
	}
	atts := e.attachments()
	if len(atts) != 1 && !pooled || len(atts) < 1 {
		// A pool's refill attaches one more, closed by the test's cleanup.
		t.Fatalf("%d attachments, want 1 (pooled: %v)", len(atts), pooled)
	}
	l := atts[0].link // the first booted is the run's
	if l.MTU != 65520 || l.MAC.String() != "02:00:00:00:00:64" || l.Addr.String() != "10.0.2.100/24" ||
		l.Gateway.String() != "10.0.2.2" || l.DNS.String() != "10.0.2.3" || !strings.HasPrefix(l.ID, "sb-") {
		t.Errorf("Link %+v", l)
	}
	if n := atts[0].closes.Load(); n != 1 {
		t.Errorf("the Attachment was closed %d times after Wait, want 1", n)
	}
}

// TestEgressResolvConfControl: without NetworkEgress, the sandbox's
// resolv.conf is not the egress one (TestEgressLink's control).
func TestEgressResolvConfControl(t *testing.T) {
	if _, err := os.Stat("/etc/resolv.conf"); err != nil {
		t.Skip("the host has no /etc/resolv.conf")
	}
	out := sh(t, sandbox.Options{}, "cat /etc/resolv.conf || true")
	if strings.Contains(out, "10.0.2.3") {
		t.Errorf("a NetworkNone sandbox's resolv.conf names 10.0.2.3: %q", out)
	}
}

// TestEgressTeardown: the Attachment is closed exactly once on every way
// a sandbox ends, and the TAP with it.
func TestEgressTeardown(t *testing.T) {
	requireTun(t)
	sleep := func() *sandbox.Cmd { return sandbox.Command("/bin/sleep", "1000") }
	for _, tc := range []struct {
		name string
		pool bool
		end  func(t *testing.T, sb *sandbox.Sandbox)
	}{
		{"Wait", false, func(t *testing.T, sb *sandbox.Sandbox) {
			p, err := sb.Run(sandbox.Command("/bin/true"))
			if err != nil {
				t.Fatal(err)
			}
			p.Wait()
		}},
		{"Kill", false, func(t *testing.T, sb *sandbox.Sandbox) {
			p, err := sb.Run(sleep())
			if err != nil {
				t.Fatal(err)
			}
			p.Kill()
			p.Wait()
		}},
		{"context", false, func(t *testing.T, sb *sandbox.Sandbox) {
			ctx, cancel := context.WithCancel(context.Background())
			p, err := sb.RunContext(ctx, sleep())
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := p.Wait(); !errors.Is(err, context.Canceled) {
				t.Errorf("Wait: %v, want context.Canceled", err)
			}
		}},
		{"failed start", false, func(t *testing.T, sb *sandbox.Sandbox) {
			if _, err := sb.Run(sandbox.Command("/nonexistent")); err == nil {
				t.Error("Run of /nonexistent: no error")
			}
		}},
		{"pool Close", true, func(t *testing.T, sb *sandbox.Sandbox) {}}, // the test's Close
		{"pooled Wait", true, func(t *testing.T, sb *sandbox.Sandbox) {
			p, err := sb.Run(sandbox.Command("/bin/true"))
			if err != nil {
				t.Fatal(err)
			}
			p.Wait()
		}},
		{"Box.Stop", false, func(t *testing.T, sb *sandbox.Sandbox) {
			x, err := sb.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x.Exec(sleep()); err != nil {
				t.Fatal(err)
			}
			x.Stop()
		}},
		{"Box context", false, func(t *testing.T, sb *sandbox.Sandbox) {
			ctx, cancel := context.WithCancel(context.Background())
			x, err := sb.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			<-x.Done()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEgress()
			opts := egressOpts(t, e)
			if tc.pool {
				opts.Pool = 1
			}
			sb := sandbox.New(opts)
			if tc.pool {
				if err := sb.Prewarm(context.Background()); err != nil {
					t.Fatal(err)
				}
				if atts := e.attachments(); len(atts) != 1 || atts[0].closes.Load() != 0 {
					t.Fatalf("a warm pool of 1: %d attachments, want 1, open", len(atts))
				}
			}
			tc.end(t, sb)
			if !tc.pool {
				checkClosedOnce(t, e, 1)
			}
			if err := sb.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			want := 1
			if tc.name == "pooled Wait" {
				want = 2 // the run's, and its refill's (closed by Close)
			}
			checkClosedOnce(t, e, want)
		})
	}
}

// checkClosedOnce checks that e made n attachments and each was closed
// exactly once.
func checkClosedOnce(t *testing.T, e *fakeEgress, n int) {
	t.Helper()
	atts := e.attachments()
	if len(atts) != n {
		t.Errorf("%d attachments, want %d", len(atts), n)
	}
	for i, a := range atts {
		if c := a.closes.Load(); c != 1 {
			t.Errorf("attachment %d (%s) closed %d times, want 1", i, a.link.ID, c)
		}
		// Its TAP is closed: the file refuses reads.
		if _, err := a.link.File.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
			t.Errorf("attachment %d's TAP: read %v, want os.ErrClosed", i, err)
		}
	}
}

func TestEgressAttachError(t *testing.T) {
	requireTun(t)
	e := newFakeEgress()
	e.attachErr = errors.New("no stack today")
	sb := sandbox.New(egressOpts(t, e))
	_, err := sb.Run(sandbox.Command("/bin/true"))
	if !errors.Is(err, e.attachErr) || !strings.Contains(err.Error(), "Options.Egress") {
		t.Errorf("Run: %v, want the Attach error, naming Options.Egress", err)
	}
	// A pool's sandboxes attach at boot: Prewarm says why they cannot.
	po := egressOpts(t, e)
	po.Pool = 1
	pool := sandbox.New(po)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pool.Prewarm(ctx); !errors.Is(err, e.attachErr) {
		t.Errorf("Prewarm: %v, want the Attach error", err)
	}
	pool.Close()
	// Control: the same options with a working Egress run.
	e.attachErr = nil
	p, err := sb.Run(sandbox.Command("/bin/true"))
	if err != nil {
		t.Fatalf("control: %v", err)
	}
	if res, err := p.Wait(); err != nil || !res.Success() {
		t.Errorf("control: %v %v", res, err)
	}
}

// TestEgressNoTun: where /dev/net/tun cannot be used, a NetworkEgress
// sandbox fails with an error that says what the host lacks.
func TestEgressNoTun(t *testing.T) {
	requireSandbox(t)
	if f, _ := sandbox.Check().Feature("tun"); f.Available {
		t.Skipf("/dev/net/tun is usable here (%s): TestEgressLink runs instead", f.Detail)
	}
	_, err := sandbox.New(egressOpts(t, newFakeEgress())).Run(sandbox.Command("/bin/true"))
	var se *sandbox.SetupError
	if !errors.As(err, &se) || se.Step != "link" || se.Path != "/dev/net/tun" || !strings.Contains(se.Message, "/dev/net/tun") {
		t.Fatalf("Run: %v, want a SetupError of step link naming /dev/net/tun", err)
	}
	t.Logf("the error: %v", err)
}

func TestEgressValidation(t *testing.T) {
	e := newFakeEgress()
	for _, tc := range []struct {
		opts  sandbox.Options
		field string
	}{
		{sandbox.Options{Egress: e}, "Options.Egress"},
		{sandbox.Options{Network: sandbox.NetworkHost, Egress: e}, "Options.Egress"},
		{sandbox.Options{Network: sandbox.NetworkEgress}, "Options.Egress"},
		{sandbox.Options{Network: sandbox.NetworkEgress, Egress: e, Reuse: true, Pool: 1}, "Options.Reuse"},
	} {
		_, err := sandbox.New(tc.opts).Run(sandbox.Command("/bin/true"))
		var oe *sandbox.OptionError
		if !errors.As(err, &oe) || oe.Field != tc.field {
			t.Errorf("%+v: %v, want an OptionError for %s", tc.opts, err, tc.field)
		}
	}
	if len(e.attachments()) != 0 {
		t.Errorf("an invalid sandbox attached")
	}
}
