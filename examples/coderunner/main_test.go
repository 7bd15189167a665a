package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

func TestMain(m *testing.M) {
	// The test binary is the server too: with CODERUNNER_MAIN set it runs
	// main (which calls sandbox.Main first, as the server's sandboxes
	// re-execute it).
	if os.Getenv("CODERUNNER_MAIN") != "" {
		main()
		os.Exit(0)
	}
	sandbox.Main()
	os.Exit(testutil.RunChecked(m))
}

// startServer runs the server as a child process and returns it and its
// base URL, from its "listening" log line.
func startServer(t *testing.T, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"-addr", "127.0.0.1:0", "-go-cache", "", "-cgroup-parent", testutil.CgroupParent()}, args...)
	c := exec.Command(exe, args...)
	c.Env = append(os.Environ(), "CODERUNNER_MAIN=1")
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logs.Write(append(sc.Bytes(), '\n'))
			mu.Unlock()
			var line struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				urls <- line.URL
			}
		}
	}()
	select {
	case u := <-urls:
		return c, strings.TrimSuffix(u, "/"), &logs
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		c.Wait()
		t.Fatalf("the server did not start:\n%s", logs.String())
	}
	return nil, "", nil
}

// running lists the pids of live processes whose command line holds s.
func running(s string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		if pid != os.Getpid() && testutil.Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestShutdown sends SIGTERM to a server running a short job and a long
// one: the short one finishes, the long one is killed at -shutdown-timeout,
// the server exits 0, and nothing of its sandboxes is left (processes,
// cgroups).
func TestShutdown(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	c, url, logs := startServer(t, "-pool", "1", "-shutdown-timeout", "1500ms")
	const marker = "7.654321"
	type result struct {
		code int
		body string
	}
	do := func(src string, out chan<- result) {
		body := `{"language":"sh","source":` + strconv.Quote(src) + `,"limits":{"wall_ms":10000}}`
		resp, err := http.Post(url+"/run", "application/json", strings.NewReader(body))
		if err != nil {
			out <- result{0, err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out <- result{resp.StatusCode, string(b)}
	}
	long, short := make(chan result, 1), make(chan result, 1)
	go do("sleep "+marker, long)
	go do("sleep 0.5; echo done", short)
	deadline := time.Now().Add(30 * time.Second)
	for len(running("sleep\x00"+marker)) == 0 || len(running("sleep\x000.5")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the jobs did not start:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r := <-short; r.code != 200 || !strings.Contains(r.body, `"stdout":"done\n"`) {
		t.Errorf("the short job: %d %s; want it finished", r.code, r.body)
	}
	if r := <-long; r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "shutting down") {
		t.Errorf("the long job: %d %s; want 503 shutting down", r.code, r.body)
	}
	err := c.Wait()
	t.Logf("the server exited %v after %v", err, time.Since(start))
	if err != nil {
		t.Errorf("the server: %v\n%s", err, logs.String())
	}
	if p := running("sleep\x00" + marker); len(p) > 0 {
		t.Errorf("the long job's sleep is still running: pids %v", p)
	}
	own := "corral-" + strconv.Itoa(c.Process.Pid) + "."
	for _, cg := range testutil.SandboxCgroups() {
		if strings.HasPrefix(filepath.Base(cg), own) {
			t.Errorf("cgroup left: %s", cg)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no \"stopped\" log line:\n%s", logs.String())
	}
}
