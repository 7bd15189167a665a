package sandboxtest_test

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/sandboxtest"
)

// TestOutput: the command runs in the default sandbox (hostname corral,
// unlike the host's) and its output comes back.
func TestOutput(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "corral" {
		t.Skipf("the host's name is %q (%v): the check cannot tell it from the sandbox's", host, err)
	}
	if out := sandboxtest.Output(t, sandbox.Options{}, "hostname"); out != "corral\n" {
		t.Fatalf("hostname in the sandbox: %q, want corral", out)
	}
}

// TestOutputFails: a command that exits non-zero fails the test, with its
// stderr; Run returns its Result instead.
func TestOutputFails(t *testing.T) {
	f := sandboxtest.RunFake(t, func(tb testing.TB) {
		sandboxtest.Output(tb, sandbox.Options{}, "sh", "-c", "echo to-stderr >&2; exit 3")
	})
	if !f.Failed() || !strings.Contains(f.Msg, "exit status 3") || !strings.Contains(f.Msg, "to-stderr") {
		t.Errorf("Output of a command exiting 3: %v; want a failure with the status and stderr", f)
	}
	res := sandboxtest.Run(t, sandbox.Options{}, sandbox.Command("sh", "-c", "exit 3"))
	if res.ExitCode != 3 {
		t.Errorf("Run: %v, want exit status 3", res)
	}
}

// TestSetupFails: a sandbox that cannot start the command fails the test
// with the sandbox's error (here, no such program).
func TestSetupFails(t *testing.T) {
	f := sandboxtest.RunFake(t, func(tb testing.TB) {
		sandboxtest.Run(tb, sandbox.Options{}, sandbox.Command("/no/such/program"))
	})
	if !f.Failed() || f.Skipped() || !strings.Contains(f.Msg, "/no/such/program") {
		t.Errorf("Run of a missing program: %v; want a failure naming it", f)
	}
	f = sandboxtest.RunFake(t, func(tb testing.TB) {
		sandboxtest.Run(tb, sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind("relative", "/x")}}, sandbox.Command("true"))
	})
	if !f.Failed() || !strings.Contains(f.Msg, "Options.Mounts[0]") {
		t.Errorf("Run with an invalid mount: %v; want a failure naming the field", f)
	}
}

// TestLimits: the sandbox's limits hold, and the Result says which ended
// the run; with a cgroup, memory too (a helper that fills 128 MiB, under
// 32 MiB; and, the control, under 256 MiB).
func TestLimits(t *testing.T) {
	start := time.Now()
	res := sandboxtest.Run(t, sandbox.Options{Limits: sandbox.Limits{Time: 300 * time.Millisecond}}, sandbox.Command("sleep", "30"))
	if res.Limit != sandbox.LimitTime || time.Since(start) > 10*time.Second {
		t.Errorf("sleep 30 under a 300 ms limit: %v, limit %q after %v", res, res.Limit, time.Since(start))
	}
	for _, limit := range []int64{32 << 20, 256 << 20} {
		opts := sandbox.Options{CgroupParent: testutil.CgroupParent(), Limits: sandbox.Limits{Memory: limit}}
		opts, cmd := sandboxtest.HelperCommand(t, opts, "TestHelperFill")
		res = sandboxtest.Run(t, opts, cmd)
		if oom := limit < 128<<20; res.OOMKilled != oom || (res.Limit == sandbox.LimitMemory) != oom || res.Success() == oom {
			t.Errorf("128 MiB under a %d MiB limit: %v, limit %q, OOM killed %v", limit>>20, res, res.Limit, res.OOMKilled)
		}
	}
}

// TestHelperFill fills 128 MiB of memory.
func TestHelperFill(t *testing.T) {
	sandboxtest.SkipUnlessHelper(t)
	b := make([]byte, 128<<20)
	for i := range b {
		b[i] = 1
	}
	runtime.KeepAlive(b)
}

// TestStartCleanup: a command that Start left running is killed when its
// test ends, and nothing of its sandbox is left: no process, mount,
// cgroup, fd or temp dir (testutil.Leaks), with and without a pool and
// limits.
func TestStartCleanup(t *testing.T) {
	for _, opts := range []sandbox.Options{
		{},
		{Pool: 1, CgroupParent: testutil.CgroupParent(), Limits: sandbox.Limits{Pids: 16}},
	} {
		before := testutil.Take()
		var pid int
		t.Run("", func(t *testing.T) {
			var out bytes.Buffer
			cmd := sandbox.Command("sh", "-c", "echo started; exec sleep 60")
			cmd.Stdout = &out
			p := sandboxtest.Start(t, opts, cmd)
			pid = p.Pid()
			for deadline := time.Now().Add(10 * time.Second); out.Len() == 0 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if !testutil.Alive(pid) { // the control: it runs until the test ends
				t.Fatalf("the sandbox's init %d is not running during the test", pid)
			}
		})
		if pid == 0 {
			continue // skipped
		}
		if testutil.Alive(pid) {
			t.Errorf("options %+v: the sandbox's init %d is alive after its test ended", opts, pid)
		}
		if leaks := testutil.Leaks(before); len(leaks) > 0 {
			t.Errorf("options %+v: left behind: %s", opts, strings.Join(leaks, "; "))
		}
	}
}
