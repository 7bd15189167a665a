package egresstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/egress"
)

// TestMain makes the test binary its own sandbox init and wraps the suite
// in a leak check.
func TestMain(m *testing.M) {
	sandbox.Main()
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close() // the runtime's poller fds, in the baseline
	}
	before := testutil.Take()
	code := m.Run()
	if leaks := testutil.Leaks(before); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "LEAK CHECK FAILED:\n  "+strings.Join(leaks, "\n  "))
		code = 1
	}
	os.Exit(code)
}

// requireEgress skips (or on CI fails) where sandboxes cannot run, and
// skips where /dev/net/tun cannot be used (the sandbox package's
// TestEgressNoTun checks that error).
func requireEgress(t *testing.T) {
	t.Helper()
	testutil.RequireSandbox(t, sandbox.Check().Err())
	if f, _ := sandbox.Check().Feature("tun"); !f.Available {
		t.Skipf("NetworkEgress cannot run here as uid %d: %s (fix: %s)", os.Geteuid(), f.Detail, f.Fix)
	}
}

// net is a Policy under test, its events, and the test servers its Dial
// maps names to.
type world struct {
	t       *testing.T
	p       *egress.Policy
	mu      sync.Mutex
	events  []egress.Event
	servers map[string]string // "name:port" or "ip:port" -> a loopback address
}

// newWorld returns a Policy allowing rules, whose Dial maps the names of
// servers (set with serve) to loopback test servers; with defaultDial, the
// Policy's own Dial instead.
func newWorld(t *testing.T, defaultDial bool, rules ...string) *world {
	t.Helper()
	w := &world{t: t, servers: map[string]string{}}
	var rs []egress.Rule
	for _, s := range rules {
		r, err := egress.ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	p, err := egress.NewPolicy(rs...)
	if err != nil {
		t.Fatal(err)
	}
	w.p = p
	w.p.Events = func(e egress.Event) {
		w.mu.Lock()
		w.events = append(w.events, e)
		w.mu.Unlock()
	}
	if !defaultDial {
		w.p.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			w.mu.Lock()
			to, ok := w.servers[address]
			w.mu.Unlock()
			if !ok {
				return nil, fmt.Errorf("no test server for %s", address)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, to)
		}
	}
	return w
}

// serve maps the names (or ip:port) in as to l's address.
func (w *world) serve(l net.Listener, as ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range as {
		w.servers[a] = l.Addr().String()
	}
}

// eventsWhere returns the events match accepts.
func (w *world) eventsWhere(match func(egress.Event) bool) []egress.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []egress.Event
	for _, e := range w.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// opts are the options of a sandbox on w's network.
func (w *world) opts() sandbox.Options {
	return sandbox.Options{Network: sandbox.NetworkEgress, Egress: w.p}
}

// run runs cmd in a sandbox of w and returns its output; it fails the
// test if the sandbox fails (not if the command does).
func (w *world) run(cmd *sandbox.Cmd) (stdout, stderr string, res *sandbox.Result) {
	w.t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := sandbox.New(w.opts()).RunContext(ctx, cmd)
	if err != nil {
		w.t.Fatalf("Run(%q): %v", cmd.Args, err)
	}
	res, err = p.Wait()
	if err != nil {
		w.t.Fatalf("Wait(%q): %v (stderr %q)", cmd.Args, err, errb.String())
	}
	return out.String(), errb.String(), res
}

// python runs a python3 script in a sandbox of w.
func (w *world) python(script string, args ...string) (string, string, *sandbox.Result) {
	w.t.Helper()
	py := python3(w.t)
	return w.run(sandbox.Command(py, append([]string{"-c", script}, args...)...))
}

// python3 is the system's python3, which the sandbox's /usr has (the
// one first in PATH may be a shim elsewhere: pyenv's).
func python3(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat("/usr/bin/python3"); err == nil && st.Mode()&0o111 != 0 {
		return "/usr/bin/python3"
	}
	return testutil.RequireProgram(t, "python3")
}

// httpServer starts a loopback HTTP server: /hello says hello, /big
// serves n deterministic bytes, /echo sends the body back.
func httpServer(t *testing.T, n int) (net.Listener, []byte) {
	t.Helper()
	big := make([]byte, n)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, "hello from the host\n") })
	mux.HandleFunc("/big", func(rw http.ResponseWriter, r *http.Request) { rw.Write(big) })
	mux.HandleFunc("/echo", func(rw http.ResponseWriter, r *http.Request) { io.Copy(rw, r.Body) })
	mux.HandleFunc("/stream", func(rw http.ResponseWriter, r *http.Request) { // ?mib=N: N MiB of /big's first MiB, again and again
		mib, _ := strconv.Atoi(r.URL.Query().Get("mib"))
		chunk := big[:min(len(big), 1<<20)]
		rw.Header().Set("Content-Length", strconv.Itoa(mib*len(chunk)))
		for range mib {
			if _, err := rw.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l, big
}

// echoServer starts a loopback TCP echo server.
func echoServer(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				// Not io.Copy(c, c): its splice would take a pipe from
				// the runtime's pool, closed only by a finalizer (the
				// leak check would count it).
				io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 64<<10))
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
