package adversarial

// Faults: the host is killed with SIGKILL at each stage of start-up and while
// its sandbox runs; every process of the sandbox must die with it and its
// cgroup must be removed by the next sandbox.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

func TestFaultHostKilled(t *testing.T) {
	faultStart(t)

	// Anything of a killed host's tree that survives it is re-parented
	// to us, where the leak check sees it as our child.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	for _, stage := range faultHostStages {
		for _, limited := range []bool{false, true} {
			t.Run(stage+faultLimName(limited), func(t *testing.T) {
				faultHostKill(t, stage, limited, 0)
			})
		}
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	landed := map[string]int{}
	kills := faultCount(20, 4)
	for i := range kills {
		delay := time.Duration(rng.Int64N(int64(20*time.Millisecond) + 1))
		limited := i%2 == 1
		t.Run(fmt.Sprintf("outside-%02d%s", i, faultLimName(limited)), func(t *testing.T) {
			t.Logf("killing the host %v after it called Run", delay.Round(10*time.Microsecond))
			landed[faultHostKill(t, "idle", limited, delay)]++
		})
	}
	t.Logf("%d kills from outside at 0-20 ms after Run was called (seed %d) landed: %v", kills, seed, landed)
}

// The host stages a helper process (this test binary, CORRAL_ATTACK=host-<stage>)
// kills itself at with SIGKILL; "idle" waits to be killed from outside.
var faultHostStages = []string{"before-run", "during-run", "after-run", "running", "wait"}

func init() {
	for _, stage := range append(slices.Clone(faultHostStages), "idle") {
		attacks["host-"+stage] = func(args []string) int { return faultHost(stage, args) }
	}
}

// faultScript is what the helper hosts run: a shell and two sleeps, so
// the sandbox holds a small tree of processes.
const faultScript = `sleep 1000 & sleep 1000 & wait`

// faultHost is a host program that starts a sandbox and dies by SIGKILL at
// the given stage: before Run, during Run (as soon as the init exists),
// right after Run returns, while the command runs, or during Wait. Before
// dying it prints its sandbox cgroups ("cgroups") and "tree" and every
// process it and its sandbox have, for the test to check that they all die
// with it. "idle" prints how far it
// got ("run", "init N", "ready") and waits to be killed from outside.
// With the argument "limited" the sandbox has a cgroup.
func faultHost(stage string, args []string) int {
	signal.Ignore(syscall.SIGPIPE)
	opts := sandbox.Options{}
	if len(args) > 0 && args[0] == "limited" {
		opts = faultLimited(sandbox.Limits{Pids: 64})
	}
	sb := sandbox.New(opts)
	var once sync.Once
	die := func() {
		once.Do(func() {
			fmt.Println("cgroups", strings.Join(faultOwnCgroups(os.Getpid()), " "))
			fmt.Println("tree", faultPids(faultTree(os.Getpid())))
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		})
		time.Sleep(time.Hour)
	}
	switch stage {
	case "before-run":
		die()
	case "during-run":
		// Die as soon as the init has been cloned, while Run sets it up.
		// Pids are handed out in order: watch the next few rather than
		// scanning all of /proc, which is too slow to land inside Run.
		b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid") // needs CONFIG_CHECKPOINT_RESTORE
		last, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		self := os.Getpid()
		go func() {
			for {
				if err != nil && len(testutil.Children(self)) > 0 { // slower: may land after Run
					die()
				}
				for pid := last + 1; err == nil && pid <= last+64; pid++ {
					if faultPpid(pid) == self {
						once.Do(func() {
							fmt.Println("tree", self, pid)
							syscall.Kill(self, syscall.SIGKILL)
						})
					}
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	fmt.Println("run")
	p, err := sb.Run(sandbox.Command("/bin/sh", "-c", faultScript))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("init", p.Pid())
	if stage == "after-run" || stage == "during-run" {
		die() // during-run: if the goroutine has not killed us yet, it will
	}
	if len(faultWaitTree(p.Pid(), 4)) < 4 { // init, sh, two sleeps
		fmt.Println("error: the sandbox's tree did not appear:", faultTree(p.Pid()))
		return 1
	}
	switch stage {
	case "running":
		die()
	case "wait":
		go func() {
			time.Sleep(30 * time.Millisecond) // the main goroutine is in Wait by then
			die()
		}()
		res, err := p.Wait()
		fmt.Println("error: Wait returned", res, err)
		return 1
	case "idle":
		fmt.Println("ready")
		select {}
	}
	return 1
}

// faultHostKill runs a host helper that starts a sandbox and is killed with
// SIGKILL (by itself at stage, or by the test delay after the helper
// called Run when stage is "idle"), then checks that every process of its sandbox died, that its
// cgroup (limited) is removed by the next sandbox and that nothing leaked.
// It returns how far the helper got.
func faultHostKill(t *testing.T, stage string, limited bool, delay time.Duration) string {
	before := testutil.Take()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	if limited {
		args = []string{"limited"}
	}
	h := exec.Command(exe, args...)
	h.Env = append(os.Environ(), "CORRAL_ATTACK=host-"+stage)
	out := &faultHelperOut{run: make(chan struct{})}
	var errb bytes.Buffer
	h.Stdout, h.Stderr = out, &errb
	h.WaitDelay = 5 * time.Second // a survivor holding the pipes must not hang us
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	faultHelpers.Store(h.Process.Pid, true)
	var tree []int
	var had []string // the helper's sandbox cgroups just before it died
	var watchdog atomic.Bool
	if stage == "idle" {
		select {
		case <-out.run:
		case <-time.After(10 * time.Second * faultSlow):
			h.Process.Kill()
			h.Wait()
			t.Fatalf("helper did not get to Run: stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(delay)
		tree = faultTree(h.Process.Pid)
		had = faultOwnCgroups(h.Process.Pid)
		h.Process.Kill()
	} else {
		timer := time.AfterFunc(20*time.Second*faultSlow, func() { watchdog.Store(true); h.Process.Kill() })
		defer timer.Stop()
	}
	h.Wait()
	ws, _ := h.ProcessState.Sys().(syscall.WaitStatus)
	if watchdog.Load() || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper host-%s ended %v (watchdog %v); stdout %q stderr %q", stage, h.ProcessState, watchdog.Load(), out.String(), errb.String())
	}
	where := "before Run"
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case f[0] == "cgroups":
			had = append(had, f[1:]...)
		case f[0] == "tree":
			for _, s := range f[1:] {
				if pid, err := strconv.Atoi(s); err == nil {
					tree = append(tree, pid)
				}
			}
		case f[0] == "run":
			where = "in Run"
		case f[0] == "init":
			where = "after Run"
		case f[0] == "ready":
			where = "command running"
		case f[0] == "error":
			t.Errorf("helper: %s", l)
		}
	}
	if stage != "idle" && len(tree) == 0 {
		t.Fatalf("helper host-%s reported no tree: stdout %q stderr %q", stage, out.String(), errb.String())
	}
	if want := map[string]int{"after-run": 3, "running": 5, "wait": 5, "box": 6}[stage]; len(tree) < want {
		t.Errorf("helper host-%s had %v when it died; want the helper, the init and the command", stage, tree)
	}
	faultAssertGone(t, tree)

	// A killed host cannot remove its cgroup; the next limited sandbox
	// under the same parent must (or another host's, sharing the parent,
	// may have already).
	left := faultOwnCgroups(h.Process.Pid)
	if limited && (stage == "after-run" || stage == "running" || stage == "wait" || stage == "box") && len(had) == 0 {
		t.Errorf("the host had no sandbox cgroup when it died; the stale-removal check proves nothing")
	}
	left = slices.Compact(slices.Sorted(slices.Values(append(left, had...))))
	faultFinish(t, before)
	for _, cg := range left {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("stale cgroup %s of the killed host was not removed by the next sandbox", cg)
		}
	}
	faultReapAdopted(t, before.Children)
	t.Logf("killed %s; its processes %v gone; %d stale cgroup dirs removed", where, tree, len(left))
	return where
}

// faultReapAdopted reaps the children a killed host left us (we are its
// subreaper): zombies, and, after killing them, live ones the leak check
// has already reported. Only host-kill cases call it, when no child of
// ours but those can exist.
func faultReapAdopted(t *testing.T, known []int) {
	t.Helper()
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
		if ppid, _ := strconv.Atoi(f[1]); ppid != self || slices.Contains(known, pid) {
			continue
		}
		if f[0] != "Z" {
			t.Errorf("adopted survivor %d of the killed host (state %s): killing it", pid, f[0])
			unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			continue
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

// faultPpid returns the parent of pid, or 0.
func faultPpid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// faultHelperOut collects a host helper's stdout and closes run when the
// helper says it calls Run.
type faultHelperOut struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	run  chan struct{}
	seen bool
}

func (o *faultHelperOut) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if !o.seen && bytes.HasPrefix(o.buf.Bytes(), []byte("run\n")) {
		o.seen = true
		close(o.run)
	}
	return len(p), nil
}

func (o *faultHelperOut) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
