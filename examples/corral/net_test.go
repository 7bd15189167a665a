package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/egress"
)

func TestParsePublish(t *testing.T) {
	good := []struct {
		in     string
		listen string
		port   int
	}{
		{"8080:80", "127.0.0.1:8080", 80},
		{"0:80", "127.0.0.1:0", 80},
		{"0.0.0.0:8080:80", "0.0.0.0:8080", 80},
		{"localhost:9000:9000", "localhost:9000", 9000},
		{"[::1]:8080:80", "[::1]:8080", 80},
	}
	for _, tt := range good {
		if l, p, err := parsePublish(tt.in); err != nil || l != tt.listen || p != tt.port {
			t.Errorf("parsePublish(%q) = %q, %d, %v; want %q, %d", tt.in, l, p, err, tt.listen, tt.port)
		}
	}
	for _, in := range []string{"80", "8080:", ":80", "8080:0", "8080:65536", "x:80", "70000:80", ":8080:80", "8080:eighty"} {
		if l, p, err := parsePublish(in); err == nil || !strings.Contains(err.Error(), "[HOST:]HOSTPORT:PORT") {
			t.Errorf("parsePublish(%q) = %q, %d, %v; want an error showing the form", in, l, p, err)
		}
	}
}

func TestNetFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		errs []string
	}{
		{"--allow-net with --net host", []string{"--net", "host", "--allow-net", "x.org:443"}, []string{"--allow-net needs the egress network"}},
		{"--allow-net with --net none", []string{"--net", "none", "--allow-net", "x.org:443"}, []string{"--allow-net needs the egress network"}},
		{"--net-log without egress", []string{"--net-log", "-"}, []string{"--net-log needs the egress network"}},
		{"--publish without egress", []string{"--publish", "8080:80"}, []string{"--publish needs the egress network"}},
		{"bad rule", []string{"--allow-net", "x.org"}, []string{"--allow-net", "no port"}},
		{"bad publish", []string{"--net", "egress", "--publish", "80"}, []string{"--publish", "HOSTPORT"}},
		{"bad --net", []string{"--net", "slirp"}, []string{"--net", "none, host or egress"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			corral(t, "", append(tt.args, "--", "true")...).expect(t, exitSetup, tt.errs...)
		})
	}
}

// needTun skips where NetworkEgress cannot run (sandbox's TestEgressNoTun
// checks the error).
func needTun(t *testing.T) {
	t.Helper()
	needSandbox(t)
	if f, _ := sandbox.Check().Feature("tun"); !f.Available {
		t.Skipf("NetworkEgress cannot run here as uid %d: %s (fix: %s)", os.Geteuid(), f.Detail, f.Fix)
	}
}

// readEvents reads --net-log's JSON lines.
func readEvents(t *testing.T, file string) []egress.Event {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []egress.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e egress.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("--net-log line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// fetchScript resolves argv[1] with a query to the sandbox's DNS
// (10.0.2.3; not the hosts file, where localhost is the sandbox's own),
// then GETs http://ADDRESS:argv[2]/ and prints the body.
const fetchScript = `
import socket, struct, sys
q = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in sys.argv[1].split(".")) + b"\0\0\1\0\1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, ("10.0.2.3", 53))
m = s.recv(512)
if m[3] & 15 or m[7] == 0:
    sys.exit("no address for %s (rcode %d)" % (sys.argv[1], m[3] & 15))
addr = socket.inet_ntoa(m[-4:])
c = socket.create_connection((addr, int(sys.argv[2])), timeout=10)
c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    b = c.recv(65536)
    if not b:
        break
    data += b
print(data.split(b"\r\n\r\n", 1)[1].decode())
`

// TestAllowNet: --allow-net lets a name through and --net-log records
// it; without the rule (the control) the same fetch fails, and the log
// says so.
func TestAllowNet(t *testing.T) {
	needTun(t)
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello through egress") })}
	go srv.Serve(l)
	defer srv.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	// The default Dial refuses the host's loopback unless a Prefix rule
	// covers it: the second rule.
	log := filepath.Join(t.TempDir(), "net.jsonl")
	r := corral(t, "", "--allow-net", "localhost:"+port, "--allow-net", "127.0.0.1:"+port, "--net-log", log, "--", py, "-c", fetchScript, "localhost", port)
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "hello through egress") {
		t.Errorf("stdout %q", r.stdout)
	}
	evs := readEvents(t, log)
	found := false
	for _, e := range evs {
		found = found || e.Kind == "connect" && e.Name == "localhost" && e.Allowed
	}
	if !found {
		t.Errorf("no allowed connect to localhost in --net-log: %+v", evs)
	}

	// Control: the egress network with nothing allowed.
	log2 := filepath.Join(t.TempDir(), "net.jsonl")
	r = corral(t, "", "--net", "egress", "--net-log", log2, "--", py, "-c", fetchScript, "localhost", port)
	if r.code == 0 || !strings.Contains(r.stderr, "no address for localhost") {
		t.Errorf("nothing allowed: exit %d, stderr %q; want the lookup refused", r.code, r.stderr)
	}
	found = false
	for _, e := range readEvents(t, log2) {
		found = found || e.Kind == "dns" && e.Name == "localhost" && !e.Allowed
	}
	if !found {
		t.Errorf("no refused dns event in --net-log")
	}
}

// TestPublish: --publish reaches a server the command runs.
func TestPublish(t *testing.T) {
	needTun(t)
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close() // free again for corral (a race with other programs, unlikely)
	serveOne := `import http.server as h, os
os.chdir("/work")
open("index.html", "w").write("published\n")
h.HTTPServer(("0.0.0.0", 8000), h.SimpleHTTPRequestHandler).handle_request()`
	done := make(chan result, 1)
	go func() {
		done <- corral(t, "", "--net", "egress", "--publish", hostPort+":8000", "--", py, "-c", serveOne)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && body == ""; {
		resp, err := client.Get("http://127.0.0.1:" + hostPort + "/")
		if err != nil {
			time.Sleep(100 * time.Millisecond) // corral or python is starting
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	client.CloseIdleConnections()
	if body != "published\n" {
		t.Errorf("GET through --publish: %q", body)
	}
	select {
	case r := <-done:
		r.expect(t, 0)
	case <-time.After(30 * time.Second):
		t.Fatal("corral did not end after its one request")
	}
}
