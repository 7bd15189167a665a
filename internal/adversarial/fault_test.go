package adversarial

// Faults: the host killed at each stage, commands that ignore SIGTERM,
// close their stdio or flood it, hundreds of sandboxes at once, memory
// exhaustion inside cgroups and a bind source that disappears. Each case
// takes a snapshot first and, after the fault, checks that the next sandbox
// works and that nothing of ours (process, mount, cgroup, temp dir, fd) was
// left behind. This file has what the fault tests share; fault_host_test.go,
// fault_command_test.go and fault_machine_test.go the tests.

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// faultWarm makes the first sandboxes of the process, once: they make the
// runtime open what it keeps open (netpoll, pidfd support), and the cgroup
// parent exists after one, so snapshots taken afterwards compare like with
// like.
var faultWarm sync.Once

// faultStart is the start of every fault test: sandboxes must run here,
// and the process is warmed up.
func faultStart(t *testing.T) {
	t.Helper()
	requireSandbox(t)
	faultWarm.Do(func() { faultNext(t) })
}

// faultInVM is the VM lane (CORRAL_VM): under TCG emulation a sandbox
// takes about 200 ms to start instead of a few, so deadlines stretch by
// faultSlow and the biggest counts shrink to fit its time limit.
var faultInVM = os.Getenv("CORRAL_VM") != ""

var faultSlow = func() time.Duration {
	if faultInVM {
		return 10
	}
	return 1
}()

// faultCount is n on the host and inVM in the VM lane.
func faultCount(n, inVM int) int {
	if faultInVM {
		return inVM
	}
	return n
}

// faultFinish counts the fault, checks that the next sandboxes (plain and
// limited, which removes stale cgroups) work and that nothing leaked since
// before.
func faultFinish(t *testing.T, before testutil.Snapshot) {
	t.Helper()
	faultsRun.Add(1)
	faultNext(t)
	leaks := ourLeaks(t, before)
	faultLeaks.Add(int64(len(leaks)))
	for _, l := range leaks {
		t.Errorf("leak: %s", l)
	}
}

// faultHelpers are the pids of the host helpers this process started.
var faultHelpers sync.Map

// ourLeaks is testutil.Leaks(before) restricted to cgroups of ours (this
// process's and its host helpers'), with a grace period for fds: an fd
// still open right after the last Wait returned (a limit watcher's late
// Kill walking the removed cgroup) is logged, and counted only if it stays
// open for 2 s.
func ourLeaks(t testing.TB, before testutil.Snapshot) []string {
	leaks := testutil.Leaks(before)
	hasFDs := func(ls []string) bool {
		return slices.ContainsFunc(ls, func(l string) bool { return strings.HasPrefix(l, "fds left open: ") })
	}
	if hasFDs(leaks) {
		first := leaks
		for deadline := time.Now().Add(2 * time.Second); hasFDs(leaks) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			leaks = testutil.Leaks(before)
		}
		if !hasFDs(leaks) {
			t.Logf("transient: open right after the last Wait returned, closed within 2 s: %q", first)
		}
	}
	var out []string
	for _, l := range leaks {
		rest, ok := strings.CutPrefix(l, "cgroups left: ")
		if !ok {
			out = append(out, l)
			continue
		}
		var ours, others []string
		for _, cg := range strings.Split(rest, ", ") {
			owner := faultCgroupOwner(cg)
			if _, helper := faultHelpers.Load(owner); owner == os.Getpid() || helper {
				ours = append(ours, cg)
			} else {
				others = append(others, cg)
			}
		}
		if len(others) > 0 {
			t.Logf("ignored: sandbox cgroups of other hosts, in flight: %s", strings.Join(others, ", "))
		}
		if len(ours) > 0 {
			out = append(out, "cgroups left: "+strings.Join(ours, ", "))
		}
	}
	return out
}

// faultOwnCgroups lists the sandbox cgroups named for host pid.
func faultOwnCgroups(pid int) []string {
	return slices.DeleteFunc(testutil.SandboxCgroups(), func(cg string) bool { return faultCgroupOwner(cg) != pid })
}

// faultCgroupOwner returns the host pid in a sandbox cgroup's name
// (corral-<pid>.<start>.<pidns>-<n>), or 0.
func faultCgroupOwner(path string) int {
	rest, _ := strings.CutPrefix(filepath.Base(path), "corral-")
	pid, _, _ := strings.Cut(rest, ".")
	n, _ := strconv.Atoi(pid)
	return n
}

// faultNext runs /bin/true in a default sandbox and in a limited one.
func faultNext(t *testing.T) {
	t.Helper()
	for _, opts := range []sandbox.Options{{}, faultLimited(sandbox.Limits{Pids: 64})} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second*faultSlow)
		p, err := sandbox.New(opts).RunContext(ctx, sandbox.Command("/bin/true"))
		if err != nil {
			cancel()
			t.Errorf("next sandbox (%+v): Run: %v", opts.Limits, err)
			continue
		}
		res, err := p.Wait()
		cancel()
		if err != nil || !res.Success() {
			t.Errorf("next sandbox (%+v): %v, %v", opts.Limits, res, err)
		}
	}
}

// faultWait waits for p, failing the test if Wait does not return within d.
func faultWait(t *testing.T, p *sandbox.Process, d time.Duration) (*sandbox.Result, error) {
	t.Helper()
	type waited struct {
		res *sandbox.Result
		err error
	}
	c := make(chan waited, 1)
	go func() {
		res, err := p.Wait()
		c <- waited{res, err}
	}()
	select {
	case w := <-c:
		return w.res, w.err
	case <-time.After(d):
	}
	t.Errorf("Wait did not return within %v: killing the sandbox", d)
	p.Kill()
	select {
	case w := <-c:
		return w.res, w.err
	case <-time.After(5 * time.Second * faultSlow):
		t.Fatalf("Wait hangs even after Kill")
	}
	return nil, nil
}

// faultLimited returns default options with lim and the tests' cgroup parent.
func faultLimited(lim sandbox.Limits) sandbox.Options {
	return sandbox.Options{Limits: lim, CgroupParent: os.Getenv("CORRAL_CGROUP_PARENT")}
}

func faultLimName(limited bool) string {
	if limited {
		return "/limited"
	}
	return "/plain"
}

// faultTree returns pid and every live process below it.
func faultTree(pid int) []int {
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, testutil.Children(tree[i])...)
	}
	return tree
}

// faultWaitTree waits up to 5 s (in the VM 50) for pid's tree to hold n processes.
func faultWaitTree(pid, n int) []int {
	tree := faultTree(pid)
	for deadline := time.Now().Add(5 * time.Second * faultSlow); len(tree) < n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		tree = faultTree(pid)
	}
	return tree
}

func faultPids(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, " ")
}

// faultAssertGone waits up to 5 s (in the VM 50) for every pid to be gone.
func faultAssertGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second * faultSlow)
	for _, pid := range pids {
		for testutil.Alive(pid) {
			if time.Now().After(deadline) {
				t.Errorf("process %d (of %v) survived", pid, pids)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// faultRSS is this process's resident set size in bytes (VmRSS).
func faultRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
