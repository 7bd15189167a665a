package sandbox_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// unixHelper runs inside a sandbox: "dial PATH" connects to the socket at
// PATH, "listen PATH" listens there for one connection, "fd3" uses the
// connected socket passed as fd 3. Each says hello, then prints the line it
// gets back.
func unixHelper(args []string) int {
	var c net.Conn
	var err error
	switch args[0] {
	case "dial":
		c, err = net.DialTimeout("unix", args[1], 5*time.Second)
	case "listen":
		var ln net.Listener
		if ln, err = net.Listen("unix", args[1]); err == nil {
			defer ln.Close()
			c, err = ln.Accept()
		}
	case "fd3":
		c, err = net.FileConn(os.NewFile(3, "fd3"))
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer c.Close()
	fmt.Fprintln(c, "hello from the sandbox")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Print("got: ", line)
	return 0
}

// answer serves one connection: it reads a line and answers it.
func answer(c net.Conn) (string, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	_, err = fmt.Fprintln(c, "hello from the host")
	return line, err
}

// socketDir is a fresh directory for sockets, which the caller (root or
// 65534) owns.
func socketDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sock") // not corral-*: the leak checks of packages tested alongside count those
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestSocketDirHostListens: the host listens on a socket in the shared
// directory, the sandboxed command connects by the same path; the control,
// without sandbox.SocketDir, cannot reach it.
func TestSocketDirHostListens(t *testing.T) {
	dir := socketDir(t)
	path := filepath.Join(dir, "host.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		line, err := answer(c)
		if err != nil {
			line = "answer: " + err.Error()
		}
		got <- line
	}()
	opts := sandbox.Options{Mounts: []sandbox.Mount{probe(t), sandbox.SocketDir(dir)}}
	out, errs, res := run(t, opts, helperCmd("unix", "dial", path))
	if !res.Success() || out != "got: hello from the host\n" {
		t.Fatalf("dial from the sandbox: %v %q %q", res, out, errs)
	}
	if line := <-got; line != "hello from the sandbox\n" {
		t.Errorf("the host got %q", line)
	}

	// The control: without the channel the path is not there.
	out, _, res = run(t, sandbox.Options{Mounts: []sandbox.Mount{probe(t)}}, helperCmd("unix", "dial", path))
	if res.Success() || !strings.Contains(out, "no such file or directory") {
		t.Errorf("without SocketDir the host's socket was reached: %v %q", res, out)
	}
}

// TestSocketDirSandboxListens: the sandboxed command listens on a socket in
// the shared directory and the host connects to it.
func TestSocketDirSandboxListens(t *testing.T) {
	requireSandbox(t)
	dir := socketDir(t)
	path := filepath.Join(dir, "plugin.sock")
	cmd := helperCmd("unix", "listen", path)
	var out strings.Builder
	cmd.Stdout = &out
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := newSandbox(t, sandbox.Options{Mounts: []sandbox.Mount{probe(t), sandbox.SocketDir(dir)}}).RunContext(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	for ctx.Err() == nil { // the socket appears once the command listens
		if c, err = net.Dial("unix", path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c == nil {
		p.Kill()
		p.Wait()
		t.Fatalf("the sandbox's socket never took a connection: %v", err)
	}
	line, err := answer(c)
	if err != nil || line != "hello from the sandbox\n" {
		t.Errorf("the host got %q, %v", line, err)
	}
	res, err := p.Wait()
	if err != nil || !res.Success() || out.String() != "got: hello from the host\n" {
		t.Errorf("listener in the sandbox: %v %v %q", res, err, out.String())
	}
	// Go's listener removes its socket file when it closes: the command
	// may remove what it made there, as go-plugin's server does.
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the command's socket was not removed: %v", err)
	}
}

// TestExtraFilesSocketpair: one end of a socketpair passed as an extra file
// is a channel to the host without any directory.
func TestExtraFilesSocketpair(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "host end"), os.NewFile(uintptr(fds[1]), "sandbox end")
	defer theirs.Close()
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		line, err := answer(c)
		if err != nil {
			line = err.Error()
		}
		got <- line
	}()
	cmd := helperCmd("unix", "fd3")
	cmd.ExtraFiles = []*os.File{theirs}
	out, errs, res := run(t, sandbox.Options{Mounts: []sandbox.Mount{probe(t)}}, cmd)
	if !res.Success() || out != "got: hello from the host\n" {
		t.Fatalf("fd 3: %v %q %q", res, out, errs)
	}
	if line := <-got; line != "hello from the sandbox\n" {
		t.Errorf("the host got %q", line)
	}
}

// TestSocketDirBadInput: a relative or missing directory is an
// *OptionError naming the mount, before anything is built.
func TestSocketDirBadInput(t *testing.T) {
	requireSandbox(t)
	for _, dir := range []string{"sockets", filepath.Join(t.TempDir(), "missing")} {
		_, err := sandbox.New(sandbox.Options{Mounts: []sandbox.Mount{sandbox.SocketDir(dir)}}).Run(sandbox.Command("/bin/true"))
		var oe *sandbox.OptionError
		if !errors.As(err, &oe) || !strings.HasPrefix(oe.Field, "Options.Mounts[0]") {
			t.Errorf("SocketDir(%q): %v; want an *OptionError naming Options.Mounts[0]", dir, err)
		} else {
			t.Logf("SocketDir(%q): %v", dir, err)
		}
	}
}
