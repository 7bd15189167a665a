package sandboxtest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// Start starts cmd in a new sandbox built from opts and returns it
// running. The test's cleanup kills the sandbox if it still runs, waits
// for it and closes it (ending its pool, if opts has one); call Wait for
// the Result before the test ends. The sandbox is also killed when the
// test's context ends (t.Context) and shortly before the test binary's
// deadline (see Run). A host that lacks a feature skips the test (see
// Require); any other failure to start fails it.
func Start(t testing.TB, opts sandbox.Options, cmd *sandbox.Cmd) *sandbox.Process {
	t.Helper()
	p, _ := start(t, opts, cmd)
	return p
}

// start is Start, and returns the cleanup it registered too, which may be
// called earlier (it runs once).
func start(t testing.TB, opts sandbox.Options, cmd *sandbox.Cmd) (*sandbox.Process, func()) {
	t.Helper()
	Require(t)
	sb := sandbox.New(opts)
	ctx, cancel := runContext(t)
	p, err := sb.RunContext(ctx, cmd)
	if err != nil {
		cancel()
		sb.Close()
		startFailed(t, cmd, err)
		return nil, func() {} // not reached with a real testing.TB
	}
	cleanup := sync.OnceFunc(func() {
		p.Kill() // os.ErrProcessDone when it has ended
		p.Wait() // the caller's Wait had the error that matters
		cancel()
		if err := sb.Close(); err != nil {
			t.Errorf("sandboxtest: closing the sandbox of %q: %v", cmd.Args, err)
		}
	})
	t.Cleanup(cleanup)
	return p, cleanup
}

// Run runs cmd in a new sandbox built from opts, waits for it and returns
// its Result. A command that exits non-zero or is killed by a limit is not
// a failure: the Result says so. The test fails when the sandbox cannot
// run the command or fails while it runs (with what the command wrote to
// stderr, when cmd.Stderr is nil), and is skipped where the host lacks a
// feature (see Require).
//
// The run ends when the test's context does (t.Context), and, when the
// test binary has a deadline (go test -timeout), a tenth of the time left
// (at least a second, at most a minute) before it, so that a command that
// hangs fails its test with its output rather than ending the binary with
// a panic, much as Go's own tests do (internal/testenv.CommandContext).
func Run(t testing.TB, opts sandbox.Options, cmd *sandbox.Cmd) *sandbox.Result {
	t.Helper()
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	p, cleanup := start(t, opts, cmd)
	res, err := p.Wait()
	cleanup()
	if err != nil {
		t.Fatalf("sandboxtest: %q in a sandbox: %v (%v)%s", cmd.Args, err, res, stderrNote(stderr.String()))
	}
	return res
}

// Output runs the command name with args in a new sandbox built from opts
// and returns its standard output. The test fails unless the command
// exits 0, with its stderr in the message; otherwise as Run.
func Output(t testing.TB, opts sandbox.Options, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := sandbox.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	res := Run(t, opts, cmd)
	if !res.Success() {
		limit := ""
		if res.Limit != "" {
			limit = " (limit " + res.Limit + ")"
		}
		t.Fatalf("sandboxtest: %q in a sandbox: %v%s%s", cmd.Args, res, limit, stderrNote(stderr.String()))
	}
	return stdout.String()
}

func stderrNote(s string) string {
	if s == "" {
		return ""
	}
	return "\nstderr:\n" + strings.TrimRight(s, "\n")
}

// startFailed fails (or skips, for a missing feature) t, whose cmd could
// not be started.
func startFailed(t testing.TB, cmd *sandbox.Cmd, err error) {
	t.Helper()
	switch {
	case errors.Is(err, sandbox.ErrNotSupported):
		skipOrFail(t, err.Error())
	case errors.Is(err, sandbox.ErrMainNotCalled):
		t.Fatalf("sandboxtest: the test binary's TestMain must call sandbox.Main first: the sandbox's init is the test binary itself:\n" +
			"\tfunc TestMain(m *testing.M) {\n\t\tsandbox.Main()\n\t\tos.Exit(m.Run())\n\t}")
	default:
		t.Fatalf("sandboxtest: starting %q in a sandbox: %v", cmd.Args, err)
	}
}

// deadliner is what *testing.T has and testing.TB lacks.
type deadliner interface{ Deadline() (time.Time, bool) }

// runContext is t.Context(), ended early, before the test binary's
// deadline (see Run).
func runContext(t testing.TB) (context.Context, context.CancelFunc) {
	ctx := t.Context()
	d, ok := t.(deadliner)
	if !ok {
		return context.WithCancel(ctx)
	}
	deadline, ok := d.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	grace := min(max(time.Until(deadline)/10, time.Second), time.Minute)
	return context.WithDeadline(ctx, deadline.Add(-grace))
}
