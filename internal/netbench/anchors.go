package main

// The anchors: the same client on the host's loopback, and behind
// slirp4netns and pasta, the user-mode networks people run rootless
// containers with.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// clientArgs are the arguments of this binary's client mode.
func clientArgs(mode, url string, n int64) []string {
	return []string{"-client", mode, "-url", url, "-n", fmt.Sprint(n)}
}

// output runs c and returns its stdout, or an error with its stderr.
func output(c *exec.Cmd) ([]byte, error) {
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", c.Args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// hostLoopback runs the client on the host itself, to 127.0.0.1.
func hostLoopback(ctx context.Context, port int, mode string, n int64) ([]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return output(exec.CommandContext(ctx, self, clientArgs(mode, fmt.Sprintf("http://127.0.0.1:%d", port), n)...))
}

// slirp4netns runs the client in a new user and network namespace
// (unshare), which slirp4netns serves; 10.0.2.2 is the host's loopback
// there. The client waits for a line on its stdin, sent once slirp4netns
// says it is ready.
func slirp4netns(mtu int) func(ctx context.Context, port int, mode string, n int64) ([]byte, error) {
	return func(ctx context.Context, port int, mode string, n int64) ([]byte, error) {
		return slirpRun(ctx, mtu, port, mode, n)
	}
}

func slirpRun(ctx context.Context, mtu, port int, mode string, n int64) ([]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-Urn", "--", self, "-wait"}, clientArgs(mode, fmt.Sprintf("http://10.0.2.2:%d", port), n)...)
	c := exec.CommandContext(ctx, "unshare", args...)
	in, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Start(); err != nil {
		return nil, err
	}
	defer c.Wait()
	defer in.Close()
	// slirp4netns joins the network namespace of the pid: only once
	// unshare has made it, or it would configure the host's own.
	if err := awaitOwnNetns(c.Process.Pid); err != nil {
		c.Process.Kill()
		return nil, err
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		c.Process.Kill()
		return nil, err
	}
	defer ready.Close()
	s := exec.CommandContext(ctx, "slirp4netns", "--configure", fmt.Sprintf("--mtu=%d", mtu), "--ready-fd=3", fmt.Sprint(c.Process.Pid), "tap0")
	s.ExtraFiles = []*os.File{readyW}
	var serr bytes.Buffer
	s.Stderr = &serr
	err = s.Start()
	readyW.Close()
	if err != nil {
		c.Process.Kill()
		return nil, err
	}
	defer func() { s.Process.Kill(); s.Wait() }()
	if _, err := bufio.NewReader(ready).ReadByte(); err != nil {
		c.Process.Kill()
		return nil, fmt.Errorf("slirp4netns never got ready: %s", serr.String())
	}
	io.WriteString(in, "go\n")
	if err := c.Wait(); err != nil {
		return nil, fmt.Errorf("client behind slirp4netns: %w: %s", err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// pasta runs the client under pasta, which makes the namespaces itself
// and maps its gateway address to the host's loopback. It refuses to run
// as root (it would drop to nobody), so it runs as uid 65534 then.
func pasta(ctx context.Context, port int, mode string, n int64) ([]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	gw, err := defaultGateway()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--config-net", "--quiet", "-f", "--mtu", "65520", "--", self}, clientArgs(mode, fmt.Sprintf("http://%s:%d", gw, port), n)...)
	c := exec.CommandContext(ctx, "pasta", args...)
	if os.Geteuid() == 0 {
		// uid 65534 must be able to run this binary: a copy of it in a
		// directory of its own that anyone may read.
		if self, err = readableCopy(self); err != nil {
			return nil, err
		}
		args[len(args)-len(clientArgs(mode, "", n))-1] = self
		c = exec.CommandContext(ctx, "setpriv", append([]string{"--reuid", "65534", "--regid", "65534", "--clear-groups", "pasta"}, args...)...)
		c.Env = []string{"HOME=/tmp", "PATH=/usr/bin:/bin"}
	}
	c.WaitDelay = time.Second
	return output(c)
}

// defaultGateway is the host's default route's gateway, which pasta's
// namespace reaches the host's loopback at.
func defaultGateway() (string, error) {
	out, err := exec.Command("ip", "-4", "route", "show", "default").Output()
	if err != nil {
		return "", fmt.Errorf("ip route: %w", err)
	}
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			return f[i+1], nil
		}
	}
	return "", fmt.Errorf("no default route (pasta maps the host's loopback at its gateway)")
}

// copied is this binary's copy that anyone may run, once made.
var copied string

// readableCopy copies the binary self into a new directory of mode 0755
// (removed by cleanup), once, and returns the copy's path.
func readableCopy(self string) (string, error) {
	if copied != "" {
		return copied, nil
	}
	dir, err := os.MkdirTemp("", "netbench-")
	if err != nil {
		return "", err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "netbench")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		return "", err
	}
	copied = p
	return p, nil
}

// cleanups run when the benchmark ends.
var cleanups []func()

// awaitOwnNetns waits until process pid is in a network namespace other
// than this process's.
func awaitOwnNetns(pid int) error {
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	for range 2000 {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			return fmt.Errorf("the client under unshare: %w", err)
		}
		if ns != own {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("the client under unshare never left the host's network namespace")
}
