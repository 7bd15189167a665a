package sandbox_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// prewarm fills sb's pool or fails the test.
func prewarm(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sb.Prewarm(ctx); err != nil {
		t.Fatalf("Prewarm: %v", err)
	}
}

// TestPoolRunsAreFresh: every run from a pool gets a sandbox of its own:
// what a run leaves behind (files in its writable mounts, processes, SysV
// IPC, its hostname's view) never reaches the next one.
func TestPoolRunsAreFresh(t *testing.T) {
	requireSandbox(t)
	sb := sandbox.New(sandbox.Options{Pool: 2, Limits: sandbox.Limits{Pids: 64}, CgroupParent: testutil.CgroupParent()})
	defer sb.Close()
	const script = `for f in /tmp/left /work/left /dev/shm/left; do [ -e $f ] && echo "found $f"; touch $f; [ -e $f ] && echo "left $f"; done
		for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = sleep ] && echo "found sleep $p"; done
		setsid sleep 1000 </dev/null >/dev/null 2>&1 &
		[ -e /proc/$! ] && echo "left sleep"
		cat /proc/self/cgroup`
	var cgroups []string
	for i := range 4 {
		prewarm(t, sb)
		var out strings.Builder
		c := sandbox.Command("/bin/sh", "-c", script)
		c.Stdout, c.Stderr = &out, &out
		p, err := sb.Run(c)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Wait()
		if err != nil || !res.Success() || !res.Warm {
			t.Fatalf("run %d: %v, %v, warm %v; output %q", i, res, err, res.Warm, out.String())
		}
		if strings.Contains(out.String(), "found") {
			t.Errorf("run %d saw what an earlier run left: %q", i, out.String())
		}
		// The control: each run did leave them, for the next to look for.
		for _, left := range []string{"left /tmp/left\n", "left /work/left\n", "left /dev/shm/left\n", "left sleep\n"} {
			if !strings.Contains(out.String(), left) {
				t.Errorf("run %d: no %q in its output, so the check of the next proves nothing: %q", i, left, out.String())
			}
		}
		if slices.Contains(cgroups, res.Cgroup) {
			t.Errorf("run %d had the cgroup of an earlier run: %s", i, res.Cgroup)
		}
		cgroups = append(cgroups, res.Cgroup)
	}
}

// TestPoolClose: Close ends the sandboxes waiting in the pool; later runs
// start afresh, and Prewarm says the pool is closed.
func TestPoolClose(t *testing.T) {
	requireSandbox(t)
	before := testutil.Children(os.Getpid())
	sb := sandbox.New(sandbox.Options{Pool: 3})
	prewarm(t, sb)
	var waiting []int
	for _, pid := range testutil.Children(os.Getpid()) {
		if !slices.Contains(before, pid) {
			waiting = append(waiting, pid)
		}
	}
	if len(waiting) != 3 {
		t.Fatalf("a full pool of 3: %d new children %v", len(waiting), waiting)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range waiting {
		if testutil.Alive(pid) {
			t.Errorf("pooled init %d outlived Close", pid)
		}
	}
	if err := sb.Prewarm(context.Background()); !errors.Is(err, sandbox.ErrPoolClosed) {
		t.Errorf("Prewarm after Close: %v; want ErrPoolClosed", err)
	}
	p, err := sb.Run(sandbox.Command("/bin/true"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.Wait(); err != nil || !res.Success() || res.Warm {
		t.Errorf("run after Close: %v, %v, warm %v; want a cold success", res, err, res.Warm)
	}
	sb.Close() // again: nothing
}

// TestPoolCloseWaitsForEndedRuns: with a pool, Wait returns once every
// process of the run is dead (a background process included) and the
// sandbox is torn down after it; Close waits for that, and leaves nothing.
func TestPoolCloseWaitsForEndedRuns(t *testing.T) {
	requireSandbox(t)
	before := testutil.Take()
	// Degrade: rootless on cgroup v1 the limits are rlimits, and no cgroup.
	sb := sandbox.New(sandbox.Options{Pool: 2, Limits: sandbox.Limits{Memory: 64 << 20, Pids: 32}, Degrade: true,
		CgroupParent: testutil.CgroupParent()})
	prewarm(t, sb)
	for i := range 6 {
		// The background sleep holds stdout: Wait must not wait for it, nor
		// may it outlive the report.
		cmd := sandbox.Command("/bin/sh", "-c", "sleep 100 & echo $$")
		var out strings.Builder
		cmd.Stdout = &out
		p, err := sb.Run(cmd)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Wait()
		if err != nil || !res.Success() {
			t.Fatalf("run %d: %v, %v", i, res, err)
		}
		// The init may still be on its way out, but alone.
		if kids := testutil.Children(p.Pid()); len(kids) > 0 {
			t.Errorf("run %d: processes %v of the run alive after Wait", i, kids)
		}
		if strings.TrimSpace(out.String()) == "" {
			t.Errorf("run %d: no output", i)
		}
	}
	if err := sb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if leaks := testutil.Leaks(before); len(leaks) > 0 {
		t.Errorf("after Close: %s", strings.Join(leaks, "; "))
	}
}

// TestPoolInitKilled: a pooled sandbox killed while it waits is not handed
// out broken: Run starts a fresh one.
func TestPoolInitKilled(t *testing.T) {
	requireSandbox(t)
	before := testutil.Children(os.Getpid())
	sb := sandbox.New(sandbox.Options{Pool: 1})
	defer sb.Close()
	prewarm(t, sb)
	for _, pid := range testutil.Children(os.Getpid()) {
		if !slices.Contains(before, pid) {
			if err := killAndWait(pid); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out strings.Builder
	c := sandbox.Command("/bin/echo", "hello")
	c.Stdout = &out
	p, err := sb.Run(c)
	if err != nil {
		t.Fatalf("Run after the pooled init was killed: %v", err)
	}
	res, err := p.Wait()
	if err != nil || !res.Success() || res.Warm || out.String() != "hello\n" {
		t.Errorf("run after the pooled init was killed: %v, %v, warm %v, %q; want a cold success", res, err, res.Warm, out.String())
	}
}

// TestPoolPrewarmError: a pool whose sandboxes cannot be built says why
// from Prewarm, and Run reports the same error.
func TestPoolPrewarmError(t *testing.T) {
	requireSandbox(t)
	dir := t.TempDir()
	src := dir + "/src"
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(sandbox.Options{Pool: 2, Mounts: []sandbox.Mount{sandbox.Bind(src, "/data")}})
	defer sb.Close()
	prewarm(t, sb)
	sb.Close()
	os.Remove(src)
	sb = sandbox.New(sandbox.Options{Pool: 2, Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}})
	defer sb.Close()
	os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := sb.Prewarm(ctx)
	var se *sandbox.SetupError
	if !errors.As(err, &se) || se.Path != dir {
		t.Errorf("Prewarm with a vanished bind source: %v; want a SetupError naming %s", err, dir)
	}
	if _, err := sb.Run(sandbox.Command("/bin/true")); !errors.As(err, &se) {
		t.Errorf("Run: %v; want the SetupError", err)
	}
}

// killAndWait kills pid with SIGKILL and waits until it is gone.
func killAndWait(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release() // its pidfd, else open until a GC
	p.Kill()
	for deadline := time.Now().Add(5 * time.Second); testutil.Alive(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("still alive")
		}
	}
	return nil
}
