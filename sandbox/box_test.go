package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// startBox starts a Box from opts (with the test's cgroup parent), stopped
// when the test ends.
func startBox(t *testing.T, opts sandbox.Options) *sandbox.Box {
	t.Helper()
	requireSandbox(t)
	if opts.CgroupParent == "" {
		opts.CgroupParent = testutil.CgroupParent()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	x, err := sandbox.New(opts).Start(ctx)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := x.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return x
}

// execSh runs script in x, waits for it and returns its stdout and Result;
// it fails the test unless Exec and Wait succeed.
func execSh(t *testing.T, x *sandbox.Box, script string) (string, *sandbox.Result) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := sandbox.Command("/bin/sh", "-c", script)
	cmd.Stdout, cmd.Stderr = &out, &errb
	p, err := x.Exec(cmd)
	if err != nil {
		t.Fatalf("Exec(%q): %v", script, err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait(%q): %v (stderr %q)", script, err, errb.String())
	}
	return out.String(), res
}

// startSleep Execs a sleep of its own in x and returns it.
func startSleep(t *testing.T, x *sandbox.Box) *sandbox.Process {
	t.Helper()
	p, err := x.Exec(sandbox.Command("/bin/sleep", "1000"))
	if err != nil {
		t.Fatalf("Exec(sleep): %v", err)
	}
	return p
}

// sleepsScript prints the pids of the processes named sleep in the Box,
// one a line, with shell builtins only.
const sleepsScript = `for p in /proc/[0-9]*; do read c < $p/comm 2>/dev/null && [ "$c" = sleep ] && echo ${p#/proc/}; done; true`

func TestBoxSharesFilesAndPids(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	if out, res := execSh(t, x, `echo work > /work/a && echo tmp > /tmp/b`); !res.Success() {
		t.Fatalf("write: %v %q", res, out)
	}
	if out, res := execSh(t, x, `cat /work/a /tmp/b`); !res.Success() || out != "work\ntmp\n" {
		t.Errorf("a later Exec reads %q (%v); want what the earlier one wrote", out, res)
	}
	// Control: a sandbox of its own (Run) does not see them.
	if out, _, res := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", "cat /work/a /tmp/b")); res.Success() {
		t.Errorf("a separate sandbox reads %q: the files were not the Box's", out)
	}

	// One pid namespace: a sleep one Exec started is seen and killed by another.
	if out, _ := execSh(t, x, sleepsScript); out != "" {
		t.Fatalf("sleeps before any: %q", out)
	}
	sleeper := startSleep(t, x)
	out, _ := execSh(t, x, sleepsScript)
	pids := strings.Fields(out)
	if len(pids) != 1 {
		t.Fatalf("another Exec sees sleeps %q; want the one", pids)
	}
	if _, res := execSh(t, x, "kill -KILL "+pids[0]); !res.Success() {
		t.Fatalf("kill from another Exec: %v", res)
	}
	res, err := sleeper.Wait()
	if err != nil || res.Signal != syscall.SIGKILL {
		t.Errorf("the sleep killed by another Exec: %v, %v; want signal: killed", res, err)
	}
}

func TestBoxConcurrentExecs(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	const n = 8
	type got struct {
		out, errs string
		res       *sandbox.Result
		err       error
	}
	results := make([]got, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var out, errb bytes.Buffer
			cmd := sandbox.Command("/bin/sh", "-c", fmt.Sprintf("sleep 0.3; echo out%d; echo err%d >&2; exit %d", i, i, i+3))
			cmd.Stdout, cmd.Stderr = &out, &errb
			p, err := x.Exec(cmd)
			if err != nil {
				results[i].err = err
				return
			}
			res, err := p.Wait()
			results[i] = got{out.String(), errb.String(), res, err}
		})
	}
	wg.Wait()
	for i, g := range results {
		if g.err != nil {
			t.Errorf("Exec %d: %v", i, g.err)
			continue
		}
		if g.res.ExitCode != i+3 || g.out != fmt.Sprintf("out%d\n", i) || g.errs != fmt.Sprintf("err%d\n", i) {
			t.Errorf("Exec %d: %v, stdout %q, stderr %q; want exit status %d, out%d, err%d", i, g.res, g.out, g.errs, i+3, i, i)
		}
		if g.res.Wall < 300*time.Millisecond {
			t.Errorf("Exec %d: Wall %v, below the command's own sleep", i, g.res.Wall)
		}
	}
}

func TestBoxKillOneExec(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	a, b := startSleep(t, x), startSleep(t, x)
	if err := a.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if res, err := a.Wait(); err != nil || res.Signal != syscall.SIGKILL {
		t.Errorf("killed Exec: %v, %v", res, err)
	}
	if err := a.Kill(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Kill after Wait: %v; want os.ErrProcessDone", err)
	}
	// The Box and the other command go on.
	if out, _ := execSh(t, x, sleepsScript); len(strings.Fields(out)) != 1 {
		t.Errorf("after killing one of two sleeps, the Box has sleeps %q; want one", out)
	}
	if err := x.Err(); err != nil {
		t.Errorf("Box.Err after killing one Exec: %v", err)
	}
	if err := b.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if res, err := b.Wait(); err != nil || res.Signal != syscall.SIGTERM {
		t.Errorf("the other Exec, sent SIGTERM: %v, %v", res, err)
	}
}

func TestBoxBackgroundOutlivesExec(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	out, res := execSh(t, x, `sleep 1000 >/dev/null 2>&1 & echo $!`)
	if !res.Success() {
		t.Fatalf("background start: %v", res)
	}
	pid := strings.TrimSpace(out)
	if _, res := execSh(t, x, "kill -0 "+pid); !res.Success() {
		t.Fatalf("the background sleep %s is gone after its Exec exited: %v", pid, res)
	}
	// Control: kill -0 fails for a pid that does not run.
	if _, res := execSh(t, x, "kill -0 99999 2>/dev/null"); res.Success() {
		t.Fatal("control: kill -0 of no process succeeded")
	}

	// A background process that holds the command's stdout: Wait returns
	// after its grace, with the output and exec.ErrWaitDelay.
	var buf bytes.Buffer
	cmd := sandbox.Command("/bin/sh", "-c", "sleep 1000 & echo started")
	cmd.Stdout = &buf
	p, err := x.Exec(cmd)
	if err != nil {
		t.Fatal(err)
	}
	res, err = p.Wait()
	if !errors.Is(err, exec.ErrWaitDelay) || !res.Success() || buf.String() != "started\n" {
		t.Errorf("Exec whose background holds stdout: %v, %v, %q; want success, exec.ErrWaitDelay, started", res, err, buf.String())
	}

	initPid := x.Pid()
	if err := x.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if testutil.Alive(initPid) {
		t.Errorf("the Box's init %d outlives Stop", initPid)
	}
}

func TestBoxStopLeavesNothing(t *testing.T) {
	requireSandbox(t)
	before := testutil.Take()
	x, err := sandbox.New(sandbox.Options{CgroupParent: testutil.CgroupParent()}).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := startSleep(t, x) // runs when Stop comes
	execSh(t, x, `sleep 1000 >/dev/null 2>&1 &`)
	var out bytes.Buffer
	cmd := sandbox.Command("/bin/sh", "-c", "echo before; sleep 1000")
	cmd.Stdout = &out
	piped, err := x.Exec(cmd)
	if err != nil {
		t.Fatal(err)
	}
	// Control: while the Box runs, the leak check sees it.
	if leaks := testutil.Leaks(before); len(leaks) == 0 {
		t.Fatal("control: the leak check sees nothing of a running Box")
	}
	initPid := x.Pid()
	if err := x.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, q := range []*sandbox.Process{p, piped} {
		res, err := q.Wait()
		if !errors.Is(err, sandbox.ErrBoxDone) || !errors.Is(err, sandbox.ErrBoxStopped) || res.Signal != syscall.SIGKILL {
			t.Errorf("Wait of a command running at Stop: %v, %v; want killed, ErrBoxDone, ErrBoxStopped", res, err)
		}
	}
	if out.String() != "before\n" {
		t.Errorf("output of a command ended by Stop: %q", out.String())
	}
	if testutil.Alive(initPid) {
		t.Errorf("init %d alive after Stop", initPid)
	}
	if leaks := testutil.Leaks(before); len(leaks) > 0 {
		t.Errorf("after Stop: %s", strings.Join(leaks, "; "))
	}
	// After Stop: Err says so, Stop again returns the same, Exec and Stats refuse.
	select {
	case <-x.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if err := x.Err(); err != sandbox.ErrBoxStopped {
		t.Errorf("Err after Stop: %v", err)
	}
	if err := x.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := x.Exec(sandbox.Command("/bin/true")); !errors.Is(err, sandbox.ErrBoxDone) {
		t.Errorf("Exec after Stop: %v; want ErrBoxDone", err)
	}
	if _, err := x.Stats(); !errors.Is(err, sandbox.ErrBoxDone) {
		t.Errorf("Stats after Stop: %v; want ErrBoxDone", err)
	}
}

func TestBoxContext(t *testing.T) {
	requireSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	x, err := sandbox.New(sandbox.Options{CgroupParent: testutil.CgroupParent()}).Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()

	// ExecContext's context ends that command only.
	cctx, ccancel := context.WithCancel(context.Background())
	p, err := x.ExecContext(cctx, sandbox.Command("/bin/sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	other := startSleep(t, x)
	ccancel()
	res, err := p.Wait()
	if !errors.Is(err, context.Canceled) || res.Signal != syscall.SIGKILL {
		t.Errorf("ExecContext, its context cancelled: %v, %v", res, err)
	}
	if _, res := execSh(t, x, "true"); !res.Success() || x.Err() != nil {
		t.Fatalf("the Box after one command's context ended: %v, Err %v", res, x.Err())
	}

	// Start's context ends the Box, and the commands in it.
	cancel()
	select {
	case <-x.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the Box runs on 30 s after its context was cancelled")
	}
	if err := x.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after the context's end: %v", err)
	}
	if res, err := other.Wait(); !errors.Is(err, sandbox.ErrBoxDone) || res.Signal != syscall.SIGKILL {
		t.Errorf("a command of a Box whose context ended: %v, %v", res, err)
	}
	if testutil.Alive(x.Pid()) {
		t.Error("init alive after the context ended the Box")
	}
}

func TestBoxErrors(t *testing.T) {
	requireSandbox(t)
	var oe *sandbox.OptionError
	if _, err := sandbox.New(sandbox.Options{Reuse: true}).Start(context.Background()); !errors.As(err, &oe) || oe.Field != "Options.Reuse" {
		t.Errorf("Start with Reuse: %v; want an OptionError naming Options.Reuse", err)
	}
	if _, err := sandbox.New(sandbox.Options{Limits: sandbox.Limits{Memory: -1}}).Start(context.Background()); !errors.As(err, &oe) || oe.Field != "Options.Limits.Memory" {
		t.Errorf("Start with a negative memory limit: %v; want an OptionError", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sandbox.New(sandbox.Options{}).Start(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a cancelled context: %v", err)
	}

	x := startBox(t, sandbox.Options{})
	if _, err := x.Exec(nil); !errors.As(err, &oe) || oe.Field != "Cmd" {
		t.Errorf("Exec(nil): %v", err)
	}
	var se *sandbox.SetupError
	if _, err := x.Exec(sandbox.Command("/no/such/program")); !errors.As(err, &se) {
		t.Errorf("Exec of a missing program: %v; want a SetupError", err)
	}
	// The Box goes on after a command failed to start.
	if out, res := execSh(t, x, "echo ok"); !res.Success() || out != "ok\n" || x.Err() != nil {
		t.Errorf("Exec after a failed one: %v %q, Err %v", res, out, x.Err())
	}
}

// slowWriter takes delay over each Write, as a slow network peer would.
type slowWriter struct {
	delay time.Duration
	n     int
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	w.n += len(p)
	return len(p), nil
}

// TestBoxSlowOutputWriter: output the command wrote before it exited
// reaches a slow Stdout whole, however long past the exit that takes;
// only a pipe held empty by a process left running is cut.
func TestBoxSlowOutputWriter(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	w := &slowWriter{delay: 300 * time.Millisecond}
	cmd := sandbox.Command("/bin/sh", "-c", "head -c 262144 /dev/zero")
	cmd.Stdout = w
	p, err := x.Exec(cmd)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || !res.Success() || w.n != 262144 {
		t.Errorf("256 KiB to a writer taking 300 ms a write: %v, %v, %d bytes arrived; want all of them", res, err, w.n)
	}
}
