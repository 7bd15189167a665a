package compat

import (
	"os"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// TestMain makes the test binary its own sandbox init and wraps the suite
// in a leak check.
func TestMain(m *testing.M) {
	sandbox.Main()
	os.Exit(testutil.RunChecked(m))
}

// requireSandbox fails on CI, and skips elsewhere, when sandboxes cannot run here.
func requireSandbox(t testing.TB) {
	t.Helper()
	testutil.RequireSandbox(t, sandbox.Check().Err())
}

// outcome is what a run of a real program printed and how it ended.
type outcome struct {
	stdout, stderr string
	exit           int // the exit code, or 128+signal
	res            *sandbox.Result
}

// run runs cmd in a new sandbox with opts and waits for it. stdin, stdout
// and stderr of cmd are the caller's when set; those left nil are captured
// (stdout, stderr) or empty (stdin).
func run(t testing.TB, opts sandbox.Options, cmd *sandbox.Cmd) outcome {
	t.Helper()
	requireSandbox(t)
	var out, errb strings.Builder
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &errb
	}
	p, err := sandbox.New(opts).Run(cmd)
	if err != nil {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	res, err := p.Wait()
	if res == nil {
		t.Fatalf("wait %v: %v", cmd.Args, err)
	}
	o := outcome{stdout: out.String(), stderr: errb.String(), exit: res.ExitCode, res: res}
	if res.Signal != 0 {
		o.exit = 128 + int(res.Signal)
	}
	return o
}
