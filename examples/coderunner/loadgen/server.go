package main

// The server under load, started as a subprocess for each backend.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// A backend is one server configuration the load runs against.
type backend struct {
	Name  string   // in the report
	Label string   // longer, for the ratios
	Args  []string // the server's flags that choose it
}

// backends are the configurations compared.
var backends = []backend{
	{"corral", "corral (reuse)", []string{"-backend", "corral", "-reuse=true"}},
	{"corral-fresh", "corral (fresh sandboxes)", []string{"-backend", "corral", "-reuse=false"}},
	{"bwrap", "bwrap", []string{"-backend", "bwrap"}},
}

func findBackend(name string) (backend, error) {
	for _, b := range backends {
		if b.Name == name {
			return b, nil
		}
	}
	return backend{}, fmt.Errorf("unknown backend %q (use corral, corral-fresh or bwrap)", name)
}

// buildServer builds the code runner into dir and returns its path.
func buildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "coderunner")
	// -buildvcs=false: the checkout may belong to another user (CI's
	// rootless lane builds as uid 65534 in root's checkout), and git
	// then refuses to report its status.
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, "github.com/corral-dev/corral/examples/coderunner")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./examples/coderunner: %w\n%s", err, out)
	}
	return bin, nil
}

// server is a running code runner.
type server struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	log  string // its stderr's file
	done chan struct{}
	err  error // its Wait's, once done is closed
}

// startServer starts bin with args on a free loopback port and waits for
// it to be ready (GET /readyz: the pool is warm).
func startServer(bin, logDir string, args []string) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.CreateTemp(logDir, "server-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s := &server{base: "http://" + addr, log: logf.Name(), done: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// The server, and with it its sandboxes, end if the load generator is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("the server exited before it was ready (%v); its log: %s%s", s.err, s.log, s.tail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the server was not ready in 2 minutes; its log: %s%s", s.log, s.tail())
		}
	}
}

// waitLog waits until the server's log holds one of the lines.
func (s *server) waitLog(timeout time.Duration, lines ...string) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(s.log)
		for _, l := range lines {
			if bytes.Contains(b, []byte(l)) {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("the server exited (%v); its log: %s%s", s.err, s.log, s.tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the server's log did not say %q in %v: %s%s", lines[0], timeout, s.log, s.tail())
}

// tail returns the end of the server's log, indented.
func (s *server) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\n  " + string(bytes.ReplaceAll(bytes.TrimSpace(b), []byte("\n"), []byte("\n  ")))
}

// stop shuts the server down (SIGTERM; SIGKILL 30 s later) and reports
// how it exited.
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("the server did not exit within 30 s of SIGTERM")
	}
	if s.err != nil {
		return fmt.Errorf("the server exited: %v; its log: %s%s", s.err, s.log, s.tail())
	}
	return nil
}

// freePort returns a loopback address no one listens on now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// leftovers returns the pids of processes whose command line holds marker:
// the sleep bombs' sleeps, which must not outlive their requests.
func leftovers(marker string) []int {
	var pids []int
	m, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("sleep\x0060."+marker)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
