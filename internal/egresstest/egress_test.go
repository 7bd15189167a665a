package egresstest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/egress"
)

// probes runs probeScript in a sandbox of w and returns each probe's
// result line ("ok ..." or "fail ...").
func (w *world) probes(ps ...string) map[string]string {
	w.t.Helper()
	out, errs, res := w.python(probeScript, ps...)
	if !res.Success() {
		w.t.Fatalf("probes: %v\n%s%s", res, out, errs)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if p, r, ok := strings.Cut(sc.Text(), " "); ok {
			got[p] = r
		}
	}
	for _, p := range ps {
		if _, ok := got[p]; !ok {
			w.t.Fatalf("probe %s printed nothing; output:\n%s%s", p, out, errs)
		}
	}
	return got
}

// expect checks each probe's result: true wants "ok", false "fail".
func expect(t *testing.T, got map[string]string, want map[string]bool) {
	t.Helper()
	for p, ok := range want {
		if strings.HasPrefix(got[p], "ok") != ok {
			t.Errorf("%s: %s, want ok=%v", p, got[p], ok)
		}
	}
}

func TestCurlAllowedName(t *testing.T) {
	requireEgress(t)
	curl := testutil.RequireProgram(t, "curl")
	l, big := httpServer(t, 32<<20)
	w := newWorld(t, false, "files.test:8080")
	w.serve(l, "files.test:8080", "other.test:8080")
	out, errs, res := w.run(sandbox.Command("/bin/sh", "-c",
		curl+` -sS --max-time 60 http://files.test:8080/hello && `+
			curl+` -sS --max-time 60 http://files.test:8080/big | sha256sum && `+
			curl+` -sS --max-time 60 --data-binary @- http://files.test:8080/echo | sha256sum && `+
			`{ `+curl+` -sS --max-time 20 http://other.test:8080/hello || echo "other refused"; }`))
	if !res.Success() {
		t.Fatalf("curl: %v\n%s%s", res, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "hello from the host" || !strings.HasPrefix(lines[1], sha(big)) || lines[3] != "other refused" {
		t.Errorf("curl's output:\n%s\nstderr:\n%s\nwant hello, the sha256 %s of /big, the echo's, and the unlisted name refused", out, errs, sha(big))
	}
	// The upload (line 3) is checked in TestCurlUpload; here stdin was
	// empty: the sha256 of nothing.
	if len(lines) == 4 && !strings.HasPrefix(lines[2], sha(nil)) {
		t.Errorf("echo of an empty body: %s", lines[2])
	}
	if ev := w.eventsWhere(func(e egress.Event) bool { return e.Kind == "dns" && e.Name == "files.test" && e.Allowed }); len(ev) == 0 {
		t.Error("no allowed dns event for files.test")
	}
	if ev := w.eventsWhere(func(e egress.Event) bool { return e.Kind == "dns" && e.Name == "other.test" && !e.Allowed }); len(ev) == 0 {
		t.Error("no refused dns event for other.test")
	}
	closes := w.eventsWhere(func(e egress.Event) bool { return e.Kind == "close" && e.Name == "files.test" })
	var in int64
	for _, e := range closes {
		in += e.BytesIn
	}
	if in < int64(len(big)) {
		t.Errorf("close events count %d bytes into the sandbox, want at least %d", in, len(big))
	}
}

func TestCurlUpload(t *testing.T) {
	requireEgress(t)
	curl := testutil.RequireProgram(t, "curl")
	l, big := httpServer(t, 16<<20)
	w := newWorld(t, false, "files.test:8080")
	w.serve(l, "files.test:8080")
	cmd := sandbox.Command("/bin/sh", "-c", curl+` -sS --max-time 60 --data-binary @- http://files.test:8080/echo | sha256sum`)
	cmd.Stdin = bytes.NewReader(big)
	out, errs, res := w.run(cmd)
	if !res.Success() || !strings.HasPrefix(out, sha(big)) {
		t.Errorf("upload of %d bytes echoed: %q (want sha256 %s) %v %s", len(big), out, sha(big), res, errs)
	}
}

func TestPythonParallelConnections(t *testing.T) {
	requireEgress(t)
	w := newWorld(t, false, "echo.test:7000")
	w.serve(echoServer(t), "echo.test:7000")
	const n, size = 50, 256 << 10
	start := time.Now()
	out, errs, res := w.python(parallelScript, strconv.Itoa(n), strconv.Itoa(size))
	if !res.Success() {
		t.Fatalf("python: %v\n%s%s", res, out, errs)
	}
	var ok int
	fmt.Sscanf(out, "ok %d", &ok)
	if ok != n {
		t.Errorf("%d of %d connections echoed %d bytes intact:\n%s%s", ok, n, size, out, errs)
	}
	t.Logf("%d connections x %d KiB each way in %v (python startup included)", n, size>>10, time.Since(start).Round(time.Millisecond))
}

// TestBypassesRefused: each way around the policy fails, and each has a
// control that the same probe, allowed, works.
func TestBypassesRefused(t *testing.T) {
	requireEgress(t)
	echo := echoServer(t)
	w := newWorld(t, false, "echo.test:7000", "192.0.2.10/32:7000")
	// Every destination below has a test server behind it: a refusal is
	// the policy's, not a missing server's.
	w.serve(echo, "echo.test:7000", "echo.test:7001", "other.test:7000", "192.0.2.10:7000", "192.0.2.11:7000", "8.8.8.8:53")
	_, port, _ := net.SplitHostPort(echo.Addr().String())
	want := map[string]bool{
		"dns,echo.test":             true,  // control
		"dns,other.test":            false, // unlisted name
		"tcp,echo.test,7000":        true,  // control
		"tcp,echo.test,7001":        false, // another port
		"tcp,192.0.2.10,7000":       true,  // control: a raw IP with a Prefix rule
		"tcp,192.0.2.11,7000":       false, // a raw IP without
		"tcp,10.0.2.2," + port:      false, // the host's loopback, through the gateway
		"tcp,10.0.2.3," + port:      false, // or the DNS address
		"tcpdns,10.0.2.3,echo.test": true,  // control: DNS over TCP at the stack
		"tcpdns,8.8.8.8,echo.test":  false, // DNS over TCP elsewhere
		"udpdns,10.0.2.3,echo.test": true,  // control: DNS over UDP at the stack
		"udpdns,8.8.8.8,echo.test":  false, // UDP elsewhere
		"tcp6,2001:db8::1,7000":     false, // IPv6
		"via,other.test,7000":       false, // an unlisted name, asked of the DNS directly
		"via,echo.test,7000":        true,  // control
	}
	var ps []string
	for p := range want {
		ps = append(ps, p)
	}
	got := w.probes(ps...)
	expect(t, got, want)
	if t.Failed() {
		t.Logf("results: %q", got)
	}
	// The audit stream has each attempt.
	for _, c := range []struct {
		what  string
		match func(egress.Event) bool
	}{
		{"refused dns other.test", func(e egress.Event) bool { return e.Kind == "dns" && e.Name == "other.test" && !e.Allowed }},
		{"allowed connect echo.test:7000", func(e egress.Event) bool {
			return e.Kind == "connect" && e.Name == "echo.test" && strings.HasSuffix(e.Addr, ":7000") && e.Allowed
		}},
		{"refused connect echo.test:7001", func(e egress.Event) bool {
			return e.Kind == "connect" && e.Name == "echo.test" && strings.HasSuffix(e.Addr, ":7001") && !e.Allowed
		}},
		{"refused connect 192.0.2.11:7000", func(e egress.Event) bool { return e.Kind == "connect" && e.Addr == "192.0.2.11:7000" && !e.Allowed }},
		{"allowed connect 192.0.2.10:7000", func(e egress.Event) bool { return e.Kind == "connect" && e.Addr == "192.0.2.10:7000" && e.Allowed }},
		{"refused connect 10.0.2.2", func(e egress.Event) bool { return e.Kind == "connect" && e.Addr == "10.0.2.2:"+port && !e.Allowed }},
		{"refused connect 8.8.8.8:53", func(e egress.Event) bool { return e.Kind == "connect" && e.Addr == "8.8.8.8:53" && !e.Allowed }},
		{"dropped udp", func(e egress.Event) bool { return e.Kind == "packet" && e.Proto == "udp" && !e.Allowed }},
	} {
		if len(w.eventsWhere(c.match)) == 0 {
			t.Errorf("no event: %s", c.what)
		}
	}
}

// TestDefaultDialRefusesLoopback: with the Policy's own Dial, an allowed
// name that resolves to the host's loopback is refused; with a Dial that
// leads there on purpose (the control), the same probe connects.
func TestDefaultDialRefusesLoopback(t *testing.T) {
	requireEgress(t)
	echo := echoServer(t)
	_, port, _ := net.SplitHostPort(echo.Addr().String())
	probe := "via,localhost," + port
	w := newWorld(t, true, "localhost:"+port)
	expect(t, w.probes(probe), map[string]bool{probe: false})
	if len(w.eventsWhere(func(e egress.Event) bool { return e.Kind == "connect" && e.Name == "localhost" && !e.Allowed })) == 0 {
		t.Error("no refused connect event for localhost")
	}
	control := newWorld(t, false, "localhost:"+port)
	control.serve(echo, "localhost:"+port)
	expect(t, control.probes(probe), map[string]bool{probe: true})
}

// TestRevoke: a name allowed, then revoked while the Box runs.
func TestRevoke(t *testing.T) {
	requireEgress(t)
	py := python3(t)
	w := newWorld(t, false, "echo.test:7000")
	w.serve(echoServer(t), "echo.test:7000")
	x, err := sandbox.New(w.opts()).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	try := func() string {
		var out bytes.Buffer
		cmd := sandbox.Command(py, "-c", probeScript, "tcp,echo.test,7000")
		cmd.Stdout = &out
		p, err := x.Exec(cmd)
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		return out.String()
	}
	if out := try(); !strings.Contains(out, " ok ") {
		t.Fatalf("before Revoke (control): %q", out)
	}
	r, _ := egress.ParseRule("echo.test:7000")
	w.p.Revoke(r)
	if out := try(); !strings.Contains(out, " fail ") {
		t.Errorf("after Revoke: %q, want a failure", out)
	}
}

// TestForwardToPython: Box.Forward reaches python's http.server inside.
func TestForwardToPython(t *testing.T) {
	requireEgress(t)
	py := python3(t)
	w := newWorld(t, false)
	x, err := sandbox.New(w.opts()).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	cp := sandbox.Command("/bin/sh", "-c", "echo served from the sandbox > /work/index.txt && exec "+py+" -m http.server 8000 --bind 0.0.0.0")
	var pyErr syncBuffer
	cp.Stderr = &pyErr
	p, err := x.Exec(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	ln, err := x.Forward("127.0.0.1:0", 8000)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + ln.Addr().String() + "/index.txt")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(100 * time.Millisecond) // python is starting
	}
	client.CloseIdleConnections()
	if body != "served from the sandbox\n" {
		t.Errorf("through Forward: %q; python's stderr:\n%s", body, pyErr.String())
	}
	// Control: the same port, not forwarded, is not the host's.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:8000", time.Second); err == nil {
		c.Close()
		t.Log("127.0.0.1:8000 answers on the host: something else listens there")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestThroughput measures a bulk download by curl through the egress
// network (logged, not asserted: the machine is shared).
func TestThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	requireEgress(t)
	curl := testutil.RequireProgram(t, "curl")
	l, _ := httpServer(t, 1<<20)
	w := newWorld(t, false, "files.test:8080")
	w.serve(l, "files.test:8080")
	const mib = 512
	out, errs, res := w.run(sandbox.Command(curl, "-sS", "--max-time", "120", "-o", "/dev/null",
		"-w", "%{size_download} %{time_total} %{time_starttransfer}", "http://files.test:8080/stream?mib="+strconv.Itoa(mib)))
	if !res.Success() {
		t.Fatalf("curl: %v %s %s", res, out, errs)
	}
	var size, total, start float64
	if n, _ := fmt.Sscan(out, &size, &total, &start); n != 3 || size != mib<<20 {
		t.Fatalf("curl -w: %q, want %d bytes", out, mib<<20)
	}
	t.Logf("%d MiB in %.2f s after the first byte: %.2f Gbit/s", mib, total-start, size*8/(total-start)/1e9)
}
