package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/pluginhost/kv"
	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// TestMain makes the test binary three programs: the sandbox's init, the
// plugin (when go-plugin's magic cookie is set, as the host sets it), and
// the host (PLUGINHOST_TEST_HOST=1), so that the tests run the example's
// own code with no toolchain; TestBuiltFromSource builds it as the README
// does.
func TestMain(m *testing.M) {
	sandbox.Main()
	if os.Getenv(kv.Handshake.MagicCookieKey) == kv.Handshake.MagicCookieValue {
		kv.Serve()
		os.Exit(0)
	}
	if os.Getenv("PLUGINHOST_TEST_HOST") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func requireSandbox(t *testing.T) {
	t.Helper()
	testutil.RequireSandbox(t, sandbox.Check().Err())
}

// host returns the example's host, run by the test binary, with the test
// binary as its plugin.
func host(t *testing.T, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"-plugin", exe}, args...)...)
	// go-plugin's socket directory goes in TMPDIR; a killed host leaves it.
	// Not t.TempDir(): its long name would put the socket's path past the
	// 107 bytes a unix socket address holds (bind fails with EINVAL).
	tmp, err := os.MkdirTemp("", "ph")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	cmd.Env = append(os.Environ(), "PLUGINHOST_TEST_HOST=1", "TMPDIR="+tmp)
	return cmd
}

// probes are what the plugin tries to reach: a file of the host's, and a
// TCP listener on the host's loopback, which counts its connections.
func probes(t *testing.T) (file, addr string, accepted func() int) {
	file = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("the host's secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	n := make(chan int, 1)
	n <- 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n <- <-n + 1
			c.Close()
		}
	}()
	return file, ln.Addr().String(), func() int { v := <-n; n <- v; return v }
}

// TestPluginSandboxed runs the example end to end: the host starts the
// plugin in a sandbox, Put and Get go over gRPC through the socket
// directory, and the plugin can read neither the host's file nor reach its
// loopback listener. The control runs the same plugin unsandboxed, and it
// reaches both.
func TestPluginSandboxed(t *testing.T) {
	requireSandbox(t)
	file, addr, accepted := probes(t)
	for _, sandboxed := range []bool{true, false} {
		args := []string{"-probe-file", file, "-probe-addr", addr}
		if !sandboxed {
			args = append(args, "-unsandboxed")
		}
		var stderr bytes.Buffer
		cmd := host(t, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sandboxed %v: the host failed: %v\nstdout: %s\nstderr: %s", sandboxed, err, out, &stderr)
		}
		got := string(out)
		for _, want := range []string{
			"get greeting: hello from the plugin's store\n",
			"get missing: rpc error: code = Unknown desc = no key \"missing\"\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("sandboxed %v: no %q in:\n%s", sandboxed, want, got)
			}
		}
		read := fmt.Sprintf("plugin reads %s: ", file)
		dial := fmt.Sprintf("plugin dials %s: ", addr)
		if sandboxed {
			if !strings.Contains(got, read+"error: open "+file+": no such file or directory\n") {
				t.Errorf("the sandboxed plugin read the host's file, or failed otherwise:\n%s", got)
			}
			if !strings.Contains(got, dial+"error: ") {
				t.Errorf("the sandboxed plugin reached the host's loopback:\n%s", got)
			}
			if n := accepted(); n != 0 {
				t.Errorf("the host's listener accepted %d connections from the sandboxed plugin", n)
			}
		} else {
			if !strings.Contains(got, read+"the host's secret\n") || !strings.Contains(got, dial+"connected\n") {
				t.Errorf("control: the unsandboxed plugin should reach both:\n%s", got)
			}
			if n := accepted(); n != 1 { // the sandboxed run, first, made none
				t.Errorf("control: the host's listener accepted %d connections, want 1", n)
			}
		}
	}
}

// TestHostKilledKillsPlugin: SIGKILL the host, and its plugin's sandbox,
// and the plugin in it, are gone within seconds.
func TestHostKilledKillsPlugin(t *testing.T) {
	requireSandbox(t)
	file, addr, _ := probes(t)
	cmd := host(t, "-hold", "-probe-file", file, "-probe-addr", addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	init := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "plugin id "); ok {
			init, _ = strconv.Atoi(id)
			break
		}
	}
	if init <= 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the host printed no plugin id; stderr:\n%s", &stderr)
	}
	plugins := children(init)
	if len(plugins) == 0 {
		t.Fatalf("the plugin's sandbox (init %d) has no process: nothing to see killed", init)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range append(plugins, init) {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d (the plugin %v, its init %d) still alive 10 s after its host was killed", pid, plugins, init)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// children returns the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err == nil && bytes.Contains(b, fmt.Appendf(nil, "\nPPid:\t%d\n", pid)) {
			out = append(out, p)
		}
	}
	return out
}

// alive reports whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestBuiltFromSource builds the host and the plugin with go build, as the
// README does, and runs them.
func TestBuiltFromSource(t *testing.T) {
	requireSandbox(t)
	goBin := testutil.RequireProgram(t, "go")
	if mc, err := exec.Command(goBin, "env", "GOMODCACHE").Output(); err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	} else if _, err := os.ReadDir(strings.TrimSpace(string(mc))); err != nil && testutil.Rootless() {
		t.Skipf("uid %d cannot read the module cache (%v): building would download every module; the root lane builds it", os.Geteuid(), err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, b := range [][2]string{{"kvplugin", "./kvplugin"}, {"pluginhost", "."}} {
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(dir, b[0]), b[1])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "pluginhost"), "-plugin", filepath.Join(dir, "kvplugin")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "get greeting: hello from the plugin's store\n") ||
		!strings.Contains(string(out), "no such file or directory") {
		t.Errorf("the built host and plugin: %v\n%s", err, out)
	}
}
