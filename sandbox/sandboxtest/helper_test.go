package sandboxtest_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/sandboxtest"
)

// TestHelper: the helper test really runs inside a sandbox: it sees the
// sandbox's hostname, uid 0 and no /home, which the host has (the
// control), and gets the arguments given to it.
func TestHelper(t *testing.T) {
	if _, err := os.Stat("/home"); err != nil {
		t.Skipf("the host has no /home (%v): the check would prove nothing", err)
	}
	out := sandboxtest.Helper(t, sandbox.Options{Hostname: "helperbox"}, "TestHelperInside")
	if !strings.Contains(out, "\ninside: helperbox uid 0 /home: stat /home: no such file or directory\n") {
		t.Fatalf("the helper's output lacks what it sees inside:\n%s", out)
	}
}

func TestHelperInside(t *testing.T) {
	sandboxtest.SkipUnlessHelper(t)
	host, _ := os.Hostname()
	_, err := os.Stat("/home")
	fmt.Printf("\ninside: %s uid %d /home: %v\n", host, os.Getuid(), err)
}

// TestHelperFailure: a helper test that fails fails its caller with its
// output; one that does not exist fails it too.
func TestHelperFailure(t *testing.T) {
	f := sandboxtest.RunFake(t, func(tb testing.TB) { sandboxtest.Helper(tb, sandbox.Options{}, "TestHelperFailing") })
	if !f.Failed() || !strings.Contains(f.Msg, "failed in the sandbox") || !strings.Contains(f.Msg, "the helper says no") {
		t.Errorf("a failing helper: %v; want a failure with its message", f)
	}
	f = sandboxtest.RunFake(t, func(tb testing.TB) { sandboxtest.Helper(tb, sandbox.Options{}, "TestHelperNoSuchTest") })
	if !f.Failed() || !strings.Contains(f.Msg, "did not run") {
		t.Errorf("a helper that does not exist: %v; want a failure saying it did not run", f)
	}
}

func TestHelperFailing(t *testing.T) {
	sandboxtest.SkipUnlessHelper(t)
	t.Fatal("the helper says no")
}

// TestHelperStart: a helper started with HelperCommand and Start runs
// while the test goes on, gets its arguments, and is stopped at the end.
func TestHelperStart(t *testing.T) {
	opts, cmd := sandboxtest.HelperCommand(t, sandbox.Options{}, "TestHelperEcho", "hello")
	cmd.Stdin = strings.NewReader("from the host\n")
	var out strings.Builder
	cmd.Stdout = &out
	p := sandboxtest.Start(t, opts, cmd)
	res, err := p.Wait()
	if err != nil || !res.Success() || !strings.Contains(out.String(), "\nargs [hello] stdin from the host\n") {
		t.Fatalf("helper: %v, %v:\n%s", res, err, out.String())
	}
}

func TestHelperEcho(t *testing.T) {
	sandboxtest.SkipUnlessHelper(t)
	b := make([]byte, 100)
	n, _ := os.Stdin.Read(b)
	fmt.Printf("\nargs %v stdin %s", flag.Args(), b[:n])
}
