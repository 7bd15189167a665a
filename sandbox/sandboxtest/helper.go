package sandboxtest

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/corral-dev/corral/sandbox"
)

// HelperBinary is where HelperCommand binds the test binary in the
// sandbox (read-only).
const HelperBinary = "/sandboxtest/test"

// envHelper names, in a helper's environment, the test it runs.
const envHelper = "CORRAL_SANDBOXTEST_HELPER"

// Helper runs the test named name (as t.Name() spells it: "TestHelperX",
// or "TestHelperX/sub") of this test binary in a new sandbox built from
// opts, and returns what it printed (stdout and stderr, with go test's -v
// lines). The test fails, with that output, unless the helper test passed;
// it is skipped if the helper test skipped. The helper test calls
// SkipUnlessHelper first. See HelperCommand for how it runs.
func Helper(t testing.TB, opts sandbox.Options, name string) string {
	t.Helper()
	Require(t)
	opts, cmd := HelperCommand(t, opts, name)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	res := Run(t, opts, cmd)
	s := out.String()
	switch {
	case res.Success() && strings.Contains(s, "--- PASS: "+name+" ("):
		return s
	case res.Success() && strings.Contains(s, "--- SKIP: "+name+" ("):
		t.Skipf("sandboxtest: helper %s skipped in the sandbox:\n%s", name, s)
	case res.Success():
		t.Fatalf("sandboxtest: helper %s did not run: no test of this binary is named so:\n%s", name, s)
	default:
		t.Fatalf("sandboxtest: helper %s failed in the sandbox (%v):\n%s", name, res, s)
	}
	return s
}

// HelperCommand returns opts with the test binary bound read-only at
// HelperBinary, and a Cmd that runs the test named name there (go test's
// -test.run with each level of the name anchored, and -test.v), with the
// environment variable that SkipUnlessHelper looks for. args are passed
// to the test binary after those flags (the helper reads them with
// flag.Args after a "--"). Pass both to Start for a helper that runs
// while the test goes on, or set the Cmd's stdio first.
//
// The test binary runs in the sandbox as it does on the host, TestMain
// first: a TestMain that calls sandbox.Main (as it must, see the package
// documentation) returns at once there, since it is not the sandbox's
// init. The binary needs the host's shared libraries, if it has any, where
// the host has them: the default root has them; an Options.Root must too.
func HelperCommand(t testing.TB, opts sandbox.Options, name string, args ...string) (sandbox.Options, *sandbox.Cmd) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("sandboxtest: the test binary: %v", err)
	}
	opts.Mounts = append(append([]sandbox.Mount(nil), opts.Mounts...), sandbox.Bind(exe, HelperBinary))
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmdArgs := []string{"-test.run=" + strings.Join(parts, "/"), "-test.v", "-test.count=1"}
	if len(args) > 0 {
		cmdArgs = append(append(cmdArgs, "--"), args...)
	}
	cmd := sandbox.Command(HelperBinary, cmdArgs...)
	cmd.Env = []string{envHelper + "=" + name}
	return opts, cmd
}

// SkipUnlessHelper skips the test unless it runs as the helper that
// Helper or HelperCommand started for it (or for a test it is a subtest
// of), inside a sandbox. Call it first in a helper test.
func SkipUnlessHelper(t testing.TB) {
	t.Helper()
	h := os.Getenv(envHelper)
	if h == "" || t.Name() != h && !strings.HasPrefix(t.Name(), h+"/") {
		t.Skip("sandboxtest: a helper test: it runs inside a sandbox, from sandboxtest.Helper")
	}
}
