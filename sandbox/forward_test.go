package sandbox_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// TestForwardWithoutEgress: Dial and Forward need NetworkEgress, and say
// so.
func TestForwardWithoutEgress(t *testing.T) {
	requireSandbox(t)
	x, err := sandbox.New(sandbox.Options{}).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	p, err := x.Exec(sandbox.Command("/bin/sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	check := func(what string, err error) {
		t.Helper()
		var oe *sandbox.OptionError
		if !errors.As(err, &oe) || oe.Field != "Options.Network" || !strings.Contains(err.Error(), "NetworkEgress") {
			t.Errorf("%s: %v, want an OptionError saying to use NetworkEgress", what, err)
		}
	}
	_, err = x.Dial(context.Background(), 80)
	check("Box.Dial", err)
	_, err = x.Forward("127.0.0.1:0", 80)
	check("Box.Forward", err)
	_, err = p.Dial(context.Background(), 80)
	check("Process.Dial", err)
	_, err = p.Forward("127.0.0.1:0", 80)
	check("Process.Forward", err)
}

// readGreeting reads the double's "port N" line from c.
func readGreeting(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the greeting: %v", err)
	}
	return strings.TrimSpace(l)
}

// echoes writes msg on c and reads it back.
func echoes(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, msg)
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Errorf("echo: %q %v, want %q", buf, err, msg)
	}
}

func TestEgressForward(t *testing.T) {
	requireTun(t)
	e := newFakeEgress()
	x, err := sandbox.New(egressOpts(t, e)).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	c, err := x.Dial(context.Background(), 8080)
	if err != nil {
		t.Fatal(err)
	}
	if g := readGreeting(t, c); g != "port 8080" {
		t.Errorf("Dial: greeting %q", g)
	}
	echoes(t, c, "hello")
	c.Close()
	if _, err := x.Dial(context.Background(), 70000); err == nil {
		t.Error("Dial to port 70000: no error")
	}

	ln, err := x.Forward("127.0.0.1:0", 9090)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if g := readGreeting(t, fc); g != "port 9090" {
		t.Errorf("Forward: greeting %q", g)
	}
	echoes(t, fc, "through the listener")
	// Stop closes the listener and its connections.
	if err := x.Stop(); err != nil {
		t.Fatal(err)
	}
	fc.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := fc.Read(make([]byte, 1)); err == nil {
		t.Errorf("a forwarded connection after Stop: read %d bytes", n)
	}
	fc.Close()
	if c, err := net.Dial("tcp", ln.Addr().String()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("the listener after Stop: dial %v, want connection refused", err)
		if c != nil {
			c.Close()
		}
	}
	if _, err := x.Dial(context.Background(), 8080); !errors.Is(err, sandbox.ErrNetworkEnded) {
		t.Errorf("Dial after Stop: %v, want ErrNetworkEnded", err)
	}
	checkClosedOnce(t, e, 1)
}

func TestEgressProcessForward(t *testing.T) {
	requireTun(t)
	e := newFakeEgress()
	p, err := sandbox.New(egressOpts(t, e)).Run(sandbox.Command("/bin/sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := p.Forward("127.0.0.1:0", 22)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if g := readGreeting(t, fc); g != "port 22" {
		t.Errorf("Forward: greeting %q", g)
	}
	// Closing the listener ends it and its connections.
	if err := ln.Close(); err != nil {
		t.Error(err)
	}
	fc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fc.Read(make([]byte, 1)); err == nil {
		t.Error("a connection of a closed listener still reads")
	}
	c, err := p.Dial(context.Background(), 22)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.Kill()
	p.Wait()
	if _, err := p.Dial(context.Background(), 22); !errors.Is(err, sandbox.ErrNetworkEnded) {
		t.Errorf("Dial after Wait: %v, want ErrNetworkEnded", err)
	}
	checkClosedOnce(t, e, 1)
}
