package sandbox_test

// Options.Denials over a sandbox's life: where its listener comes from,
// and that it goes with the sandbox.

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
	"golang.org/x/sys/unix"
)

// listeners counts this process's seccomp listeners.
func listeners(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.Contains(l, "seccomp notify") {
			n++
		}
	}
	return n
}

// servers counts the goroutines serving listeners.
func servers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "sandbox.(*denials).serve(")
}

// awaitNone waits for count to reach 0 (teardown in the background, a
// pool's), and fails the test if it does not within a while.
func awaitNone(t *testing.T, what string, count func() int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); count() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s left", count(), what)
		}
	}
}

// TestDenialsTeardown: a sandbox's listener and its goroutine live while
// it does (the control) and end with it, on each way a sandbox ends.
func TestDenialsTeardown(t *testing.T) {
	requireSandbox(t)
	awaitNone(t, "listeners before the test", func() int { return listeners(t) })
	var log denialLog
	opts := sandbox.Options{Denials: log.add, CgroupParent: testutil.CgroupParent()}
	live := func(t *testing.T) {
		t.Helper()
		// Reported within a while: the listener comes with the first Ready.
		for deadline := time.Now().Add(10 * time.Second); listeners(t) != 1 || servers() != 1; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("a running sandbox: %d listeners, %d serving goroutines; want 1 and 1", listeners(t), servers())
			}
		}
	}
	gone := func(t *testing.T) {
		t.Helper()
		awaitNone(t, "listeners", func() int { return listeners(t) })
		awaitNone(t, "serving goroutines", servers)
	}
	t.Run("wait", func(t *testing.T) {
		p, err := sandbox.New(opts).Run(sandbox.Command("/bin/sh", "-c", "unshare -U true; sleep 0.3"))
		if err != nil {
			t.Fatal(err)
		}
		live(t)
		p.Wait()
		if n := listeners(t); n != 0 { // a cold run: torn down by Wait
			t.Errorf("%d listeners after Wait", n)
		}
		gone(t)
	})
	t.Run("kill", func(t *testing.T) {
		p, err := sandbox.New(opts).Run(sandbox.Command("/bin/sleep", "1000"))
		if err != nil {
			t.Fatal(err)
		}
		live(t)
		p.Kill()
		p.Wait()
		gone(t)
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p, err := sandbox.New(opts).RunContext(ctx, sandbox.Command("/bin/sleep", "1000"))
		if err != nil {
			t.Fatal(err)
		}
		live(t)
		cancel()
		p.Wait()
		gone(t)
	})
	t.Run("pool close", func(t *testing.T) {
		o := opts
		o.Pool, o.Reuse = 1, true
		sb := sandbox.New(o)
		if err := sb.Prewarm(context.Background()); err != nil {
			t.Fatal(err)
		}
		live(t) // the pooled sandbox, idle, has its listener
		log.take()
		for range 2 {
			p, err := sb.Run(sandbox.Command("/bin/sh", "-c", "unshare -U true 2>/dev/null; true"))
			if err != nil {
				t.Fatal(err)
			}
			p.Wait()
		}
		if got := log.take(); len(got) != 2 {
			t.Errorf("two runs of one reused sandbox: %d denials, want 2: %+v", len(got), got)
		}
		sb.Close()
		gone(t)
	})
	t.Run("box", func(t *testing.T) {
		x, err := sandbox.New(opts).Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		live(t)
		log.take()
		p, err := x.Exec(sandbox.Command("/bin/sh", "-c", "unshare -U true 2>/dev/null; true"))
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		if got := log.take(); len(got) != 1 || got[0].Syscall != "unshare" {
			t.Errorf("a Box's command: %+v, want one denial of unshare", got)
		}
		x.Stop()
		gone(t)
	})
}

// TestDenialsValidation: Denials needs the filter.
func TestDenialsValidation(t *testing.T) {
	requireSandbox(t)
	opts := sandbox.Options{Denials: func(sandbox.Denial) {}, Seccomp: seccomp.Profile{Disabled: true}}
	_, err := sandbox.New(opts).Run(sandbox.Command("/bin/true"))
	var oe *sandbox.OptionError
	if !errors.As(err, &oe) || oe.Field != "Options.Denials" || !strings.Contains(oe.Reason, "Seccomp.Disabled") {
		t.Errorf("Denials with the filter off: %v, want an *OptionError for Options.Denials naming Seccomp.Disabled", err)
	}
	// The control: with the filter, the same options run.
	opts.Seccomp.Disabled = false
	if _, _, res := run(t, opts, sandbox.Command("/bin/true")); !res.Success() {
		t.Errorf("Denials with the filter: %v", res)
	}
}

// TestDenialsLauncher: a caller's rule that refuses a call the init's
// launcher thread makes under the filter before the sandbox is ready
// (rt_sigprocmask, as it blocks signals) fails the set-up with the same
// error with Denials as without (the control), and is reported, from pid
// 1: the host serves the listener from the moment the filter is in place.
func TestDenialsLauncher(t *testing.T) {
	requireSandbox(t)
	rules := seccomp.Profile{Rules: []seccomp.Rule{{Syscalls: []string{"rt_sigprocmask"}, Action: seccomp.Errno(unix.EPERM)}}}
	setup := func(opts sandbox.Options) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p, err := sandbox.New(opts).RunContext(ctx, sandbox.Command("/bin/true"))
		if err == nil {
			_, err = p.Wait()
		}
		return err
	}
	var log denialLog
	with := setup(sandbox.Options{Seccomp: rules, Denials: log.add})
	without := setup(sandbox.Options{Seccomp: rules})
	var se *sandbox.SetupError
	if !errors.As(without, &se) || !errors.Is(without, unix.EPERM) {
		t.Fatalf("without Denials: %v, want a SetupError with EPERM", without)
	}
	if with == nil || with.Error() != without.Error() {
		t.Errorf("with Denials: %v; without: %v", with, without)
	}
	got := log.take()
	if len(got) == 0 || got[0].Syscall != "rt_sigprocmask" || got[0].Pid != 1 || got[0].Errno != unix.EPERM {
		t.Errorf("denials %+v, want rt_sigprocmask = EPERM from pid 1 first", got)
	}
}

// TestDenialsSmallInit: with Options.Init (the small init, built without
// cgo: it installs what the host compiled) refusals are reported alike.
func TestDenialsSmallInit(t *testing.T) {
	requireSandbox(t)
	var log denialLog
	opts := sandbox.Options{Init: smallInit(t, ""), Denials: log.add}
	out := sh(t, opts, `unshare -U true 2>/dev/null; echo $?`)
	got := log.take()
	if strings.TrimSpace(out) != "1" || len(got) != 1 || got[0].Syscall != "unshare" || got[0].Errno != unix.EPERM {
		t.Errorf("unshare -U under the small init: exit %q, denials %+v; want 1 and one unshare = EPERM", out, got)
	}
}
