package sandboxtest_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/sandboxtest"
)

// The examples are tests of a package whose TestMain calls sandbox.Main.
// They need a *testing.T, which an example has none of, so they are
// compiled but not run here; run_test.go and helper_test.go run the same
// calls.

// A command's output, from a test; the test fails unless it exits 0.
func ExampleOutput() {
	testHostname := func(t *testing.T) {
		out := sandboxtest.Output(t, sandbox.Options{}, "hostname")
		if out != "corral\n" {
			t.Errorf("hostname %q, want corral", out)
		}
	}
	_ = testHostname
}

// A command that is meant to fail, under a limit: the Result says how it
// ended.
func ExampleRun() {
	testTimeLimit := func(t *testing.T) {
		opts := sandbox.Options{Limits: sandbox.Limits{Time: 100 * time.Millisecond}}
		res := sandboxtest.Run(t, opts, sandbox.Command("sleep", "10"))
		if res.Limit != sandbox.LimitTime {
			t.Errorf("sleep 10: %v, limit %q; want the time limit", res, res.Limit)
		}
	}
	_ = testTimeLimit
}

// A server that runs while the test goes on; the test's end kills it.
func ExampleStart() {
	testServer := func(t *testing.T) {
		var out strings.Builder
		cmd := sandbox.Command("sh", "-c", "echo ready; exec sleep 600")
		cmd.Stdout = &out
		p := sandboxtest.Start(t, sandbox.Options{}, cmd)
		t.Logf("the sandbox's init is pid %d", p.Pid())
		// ... talk to it; at the end of the test it is killed and waited for.
	}
	_ = testServer
}

// A helper subprocess: the test binary runs one of its own tests inside
// the sandbox, here to check that the default sandbox has no network.
func ExampleHelper() {
	testNoNetwork := func(t *testing.T) {
		sandboxtest.Helper(t, sandbox.Options{}, "TestHelperNoNetwork")
	}
	testHelperNoNetwork := func(t *testing.T) { // named TestHelperNoNetwork in the test file
		sandboxtest.SkipUnlessHelper(t)
		if c, err := net.DialTimeout("tcp", "1.1.1.1:53", time.Second); err == nil {
			c.Close()
			t.Fatal("the host's network is reachable")
		}
	}
	_, _ = testNoNetwork, testHelperNoNetwork
}

// A test that needs Landlock: skipped, with the reason and the fix, on a
// host without it, and failed there when CORRAL_REQUIRE_SANDBOX=1.
func ExampleRequire() {
	testLandlock := func(t *testing.T) {
		sandboxtest.Require(t, "landlock")
		// ...
	}
	_ = testLandlock
}
