// Package sandboxtest runs commands and helper subprocesses in sandboxes
// from Go tests, in one line, with the sandbox's end tied to the test's.
//
// # Tutorial
//
// The sandbox's init is the test binary itself, re-executed, so the
// package's TestMain must call sandbox.Main first (without it every helper
// here fails the test with sandbox.ErrMainNotCalled and says so):
//
//	func TestMain(m *testing.M) {
//		sandbox.Main()
//		os.Exit(m.Run())
//	}
//
// Run a command and get its output; the test fails, with the command's
// stderr, unless it exits 0:
//
//	func TestHostname(t *testing.T) {
//		out := sandboxtest.Output(t, sandbox.Options{}, "hostname")
//		if out != "corral\n" {
//			t.Fatalf("hostname %q", out)
//		}
//	}
//
// Run gives the Result of a command that may fail on purpose, and Start a
// Process that runs while the test goes on (a server, say); the test's
// cleanup kills it and waits for it. Limits are the sandbox's own
// (Options.Limits); on top of them every run ends shortly before the test
// binary's deadline (go test -timeout), so that a command that hangs fails
// its test with what it printed instead of ending the whole binary.
//
// A helper subprocess is the Go idiom of a test binary that runs one of
// its own tests as a child (os/exec's TestHelperProcess), here inside a
// sandbox: Helper binds the test binary read-only into the sandbox and
// runs the named test there; SkipUnlessHelper makes that test a no-op in
// the normal run.
//
//	func TestNoNetwork(t *testing.T) {
//		sandboxtest.Helper(t, sandbox.Options{}, "TestHelperNoNetwork")
//	}
//
//	func TestHelperNoNetwork(t *testing.T) {
//		sandboxtest.SkipUnlessHelper(t)
//		if _, err := net.Dial("tcp", "1.1.1.1:53"); err == nil {
//			t.Fatal("the network is reachable")
//		}
//	}
//
// # Hosts that cannot run sandboxes
//
// Every helper calls Require first, and a Run that fails because the host
// lacks a feature (a *sandbox.FeatureError: no usable cgroup for
// Limits.Memory, say) is treated the same way: the test is skipped with
// the missing feature, what was found and how to fix it. Where the
// environment variable CORRAL_REQUIRE_SANDBOX (EnvRequire) is set to 1 it
// fails instead, so that a CI runner meant to run the sandboxes cannot
// pass by skipping them all.
//
// Why a variable of its own and not CI: CI=true is set by every hosted CI
// service, and GitHub's Ubuntu 24.04 runners also restrict unprivileged
// user namespaces through AppArmor
// (kernel.apparmor_restrict_unprivileged_userns=1): failing wherever CI is
// set would break the suites of every user of this package on the most
// common runner, where skipping with the fix is the useful answer. A
// project that has enabled user namespaces on its runners sets the
// variable and gets failures instead. (Corral's own test scripts set it
// whenever CI is set.)
//
// Other errors (an invalid option, a set-up step that failed, a missing
// command) fail the test with the error.
//
// # Design notes
//
//   - Each call builds its own sandbox.Sandbox from Options, not from a
//     Sandbox the caller shares: a test's sandbox then ends with the test
//     (Sandbox.Close in its cleanup, which also ends an Options.Pool), and
//     one test's options cannot leak into another's.
//   - The helpers take testing.TB, so benchmarks and fuzz targets can use
//     them too, and so can fakes (the package's own tests check Require's
//     skips and failures with one).
//   - A run that the test binary's deadline would cut off is killed first:
//     the test then fails with its own message and output, not the
//     binary's timeout panic with every goroutine's stack.
//   - Helper runs the test binary from the host, bound read-only, rather
//     than a copy: nothing is written, and the binary's dependencies (the
//     host's shared libraries) are where the default root shows them.
//     -test.run anchors each level of the name, so "TestHelperX" does not
//     also run "TestHelperXY".
package sandboxtest
