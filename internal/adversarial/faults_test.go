package adversarial

// Faults: the host killed at each stage, commands that ignore SIGTERM,
// close their stdio or flood it, hundreds of sandboxes at once, memory
// exhaustion inside cgroups and a bind source that disappears. Each case
// takes a snapshot first and, after the fault, checks that the next sandbox
// works and that nothing of ours (process, mount, cgroup, temp dir, fd) was
// left behind.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// The host stages a helper process (this test binary, CORRAL_ATTACK=host-<stage>)
// kills itself at with SIGKILL; "idle" waits to be killed from outside.
var faultHostStages = []string{"before-run", "during-run", "after-run", "running", "wait"}

func init() {
	for _, stage := range append(slices.Clone(faultHostStages), "idle") {
		attacks["host-"+stage] = func(args []string) int { return faultHost(stage, args) }
	}
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

func TestFaults(t *testing.T) {
	requireSandbox(t)
	// Warm up: the first sandboxes make the runtime open what it keeps
	// open (netpoll, pidfd support), and the cgroup parent exists after one.
	faultNext(t)

	t.Run("host-killed", func(t *testing.T) {
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
		kills := faultCount(20, 10)
		for i := range kills {
			delay := time.Duration(rng.Int64N(int64(20*time.Millisecond) + 1))
			limited := i%2 == 1
			t.Run(fmt.Sprintf("outside-%02d%s", i, faultLimName(limited)), func(t *testing.T) {
				t.Logf("killing the host %v after it called Run", delay.Round(10*time.Microsecond))
				landed[faultHostKill(t, "idle", limited, delay)]++
			})
		}
		t.Logf("%d kills from outside at 0-20 ms after Run was called (seed %d) landed: %v", kills, seed, landed)
	})

	t.Run("sigterm-ignored", func(t *testing.T) {
		const script = `trap '' TERM; sleep 1000 & echo ready; wait`
		// Control: SIGTERM does end a command that does not ignore it.
		t.Run("control", func(t *testing.T) {
			before := testutil.Take()
			p, tree, stop := faultStartReady(t, context.Background(), sandbox.Options{}, `sleep 1000 & echo ready; wait`)
			if err := p.Signal(syscall.SIGTERM); err != nil {
				t.Fatalf("Signal(SIGTERM): %v", err)
			}
			res, err := faultWait(t, p, 5*time.Second*faultSlow)
			stop()
			if err != nil || res.Signal != syscall.SIGTERM {
				t.Errorf("plain command after SIGTERM: %v, %v; want signal: terminated", res, err)
			}
			faultAssertGone(t, tree)
			faultFinish(t, before)
		})
		t.Run("kill", func(t *testing.T) {
			before := testutil.Take()
			p, tree, stop := faultStartReady(t, context.Background(), sandbox.Options{}, script)
			faultSigtermHeld(t, p, tree)
			if err := p.Kill(); err != nil {
				t.Errorf("Kill: %v", err)
			}
			res, err := faultWait(t, p, 5*time.Second*faultSlow)
			stop()
			if err != nil || res.Signal != syscall.SIGKILL {
				t.Errorf("after Kill: %v, %v; want signal: killed and no error", res, err)
			}
			faultAssertGone(t, tree)
			faultFinish(t, before)
		})
		t.Run("context-cancel", func(t *testing.T) {
			before := testutil.Take()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p, tree, stop := faultStartReady(t, ctx, sandbox.Options{}, script)
			faultSigtermHeld(t, p, tree)
			cancel()
			res, err := faultWait(t, p, 5*time.Second*faultSlow)
			stop()
			if !errors.Is(err, context.Canceled) || res == nil || res.Signal != syscall.SIGKILL {
				t.Errorf("after cancel: %v, %v; want signal: killed and context.Canceled", res, err)
			}
			faultAssertGone(t, tree)
			faultFinish(t, before)
		})
		t.Run("time-limit", func(t *testing.T) {
			before := testutil.Take()
			opts := sandbox.Options{Limits: sandbox.Limits{Time: 600 * time.Millisecond * faultSlow}}
			p, tree, stop := faultStartReady(t, context.Background(), opts, script)
			faultSigtermHeld(t, p, tree)
			res, err := faultWait(t, p, 5*time.Second*faultSlow)
			stop()
			if err != nil || res.Limit != sandbox.LimitTime || !res.TimedOut || res.Signal != syscall.SIGKILL {
				t.Errorf("under a %v limit: %v, %v, limit %q, timed out %v; want time and SIGKILL", opts.Limits.Time, res, err, res.Limit, res.TimedOut)
			}
			faultAssertGone(t, tree)
			faultFinish(t, before)
		})
	})

	t.Run("stdio", func(t *testing.T) {
		t.Run("closed-then-exits", func(t *testing.T) {
			// Stdin is endless: the copy into the sandbox must stop when the
			// command has closed its end and gone.
			before := testutil.Take()
			var out, errb bytes.Buffer
			c := sandbox.Command("/bin/sh", "-c", `exec >&- 2>&- <&-; sleep 0.3; exit 3`)
			c.Stdin, c.Stdout, c.Stderr = faultEndless{}, &out, &errb
			p, err := sandbox.New(sandbox.Options{}).Run(c)
			if err != nil {
				t.Fatal(err)
			}
			res, err := faultWait(t, p, 5*time.Second*faultSlow)
			if err != nil || res.ExitCode != 3 || out.Len()+errb.Len() != 0 {
				t.Errorf("closed stdio, then exit 3: %v, %v, output %q %q", res, err, out.String(), errb.String())
			}
			faultFinish(t, before)
		})
		t.Run("closed-stdin-blocking-reader", func(t *testing.T) {
			// The caller's Stdin is not a file and blocks (an io.Pipe nobody
			// writes yet, as a network stream would): once the command has
			// closed its stdin and the sandbox has ended, Wait must return,
			// or at least cancelling the context must end it.
			before := testutil.Take()
			inR, inW := io.Pipe()
			defer inW.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := sandbox.Command("/bin/sh", "-c", `exec <&-; sleep 0.2; exit 3`)
			c.Stdin = inR
			p, err := sandbox.New(sandbox.Options{}).RunContext(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			tree := faultWaitTree(p.Pid(), 2)
			type waited struct {
				res *sandbox.Result
				err error
			}
			done := make(chan waited, 1)
			go func() {
				res, err := p.Wait()
				done <- waited{res, err}
			}()
			var w waited
			select {
			case w = <-done:
			case <-time.After(3 * time.Second * faultSlow):
				var alive []int
				for _, pid := range tree {
					if testutil.Alive(pid) {
						alive = append(alive, pid)
					}
				}
				cancel()
				select {
				case w = <-done:
					t.Errorf("Wait returned only when the context was cancelled, 3 s after the command exited (sandbox processes alive: %v)", alive)
				case <-time.After(2 * time.Second * faultSlow):
					t.Errorf("Wait hangs: the command closed its stdin and exited 3 s ago (sandbox processes alive: %v), "+
						"but Wait still waits for the copy from Cmd.Stdin, blocked in the caller's Read; cancelling "+
						"the context does not end it either (os/exec semantics without a WaitDelay); unblocking the reader", alive)
					inW.Close()
					w = <-done
				}
			}
			if w.res == nil || w.res.ExitCode != 3 {
				t.Errorf("command closed stdin and exited 3: %v, %v", w.res, w.err)
			}
			faultAssertGone(t, tree)
			faultFinish(t, before)
		})
		t.Run("closed-keeps-running", func(t *testing.T) {
			before := testutil.Take()
			var out bytes.Buffer
			c := sandbox.Command("/bin/sh", "-c", `exec >&- 2>&- <&-; sleep 1000 & wait`)
			c.Stdin, c.Stdout, c.Stderr = faultEndless{}, &out, &out
			p, err := sandbox.New(sandbox.Options{}).Run(c)
			if err != nil {
				t.Fatal(err)
			}
			tree := faultWaitTree(p.Pid(), 3)
			time.Sleep(100 * time.Millisecond)
			p.Kill()
			res, err := faultWait(t, p, 5*time.Second*faultSlow)
			if err != nil || res.Signal != syscall.SIGKILL {
				t.Errorf("closed stdio, running, killed: %v, %v", res, err)
			}
			faultAssertGone(t, tree)
			faultFinish(t, before)
		})
		t.Run("background-holds-stdout", func(t *testing.T) {
			// The command exits while a background child still holds its
			// stdout and stderr: the sandbox ends with the command.
			before := testutil.Take()
			var out, errb bytes.Buffer
			c := sandbox.Command("/bin/sh", "-c", `sleep 1000 & echo bye`)
			c.Stdout, c.Stderr = &out, &errb
			p, err := sandbox.New(sandbox.Options{}).Run(c)
			if err != nil {
				t.Fatal(err)
			}
			res, err := faultWait(t, p, 5*time.Second*faultSlow)
			if err != nil || !res.Success() || out.String() != "bye\n" {
				t.Errorf("exit with a background child on stdout: %v, %v, %q", res, err, out.String())
			}
			faultFinish(t, before)
		})
		for _, tc := range []struct {
			name string
			lim  sandbox.Limits
		}{
			{"flood-output-limit", sandbox.Limits{Output: 100 << 10, Time: 20 * time.Second * faultSlow}},
			{"flood-time-limit", sandbox.Limits{Time: time.Second}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := testutil.Take()
				w := &faultSlowWriter{}
				c := sandbox.Command("yes")
				c.Stdout = w
				p, err := sandbox.New(sandbox.Options{Limits: tc.lim}).Run(c)
				if err != nil {
					t.Fatal(err)
				}
				res, err := faultWait(t, p, 10*time.Second*faultSlow)
				n, writes := w.figures()
				t.Logf("yes to a slow reader (1 ms per write), %+v: %v, limit %q, %d bytes in %d writes, wall %v",
					tc.lim, res, res.Limit, n, writes, res.Wall.Round(time.Millisecond))
				switch {
				case err != nil || res.Signal != syscall.SIGKILL:
					t.Errorf("flood: %v, %v; want killed", res, err)
				case tc.lim.Output > 0 && (res.Limit != sandbox.LimitOutput || !res.OutputTruncated || n != tc.lim.Output):
					t.Errorf("flood under Output %d: limit %q, truncated %v, %d bytes through", tc.lim.Output, res.Limit, res.OutputTruncated, n)
				case tc.lim.Output == 0 && (res.Limit != sandbox.LimitTime || n == 0):
					t.Errorf("flood under Time %v: limit %q, %d bytes through", tc.lim.Time, res.Limit, n)
				}
				faultFinish(t, before)
			})
		}
	})

	t.Run("hundreds-at-once", func(t *testing.T) {
		before := testutil.Take()
		faultMany(t, faultCount(200, 60), faultCount(50, 20))
		faultFinish(t, before)
	})

	t.Run("memory-exhausted", func(t *testing.T) {
		before := testutil.Take()
		const n = 8
		type outcome struct {
			res *sandbox.Result
			err error
		}
		outs := make([]outcome, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				opts := faultLimited(sandbox.Limits{Memory: 32 << 20, Time: 20 * time.Second * faultSlow})
				p, err := sandbox.New(opts).Run(sandbox.Command("tail", "/dev/zero"))
				if err != nil {
					outs[i].err = err
					return
				}
				outs[i].res, outs[i].err = p.Wait()
			})
		}
		wg.Wait()
		for i, o := range outs {
			switch {
			case o.err != nil:
				t.Errorf("bomb %d: %v", i, o.err)
			case !o.res.OOMKilled || o.res.Limit != sandbox.LimitMemory || o.res.Signal != syscall.SIGKILL:
				t.Errorf("bomb %d: %v, oom %v, limit %q; want OOM-killed, memory", i, o.res, o.res.OOMKilled, o.res.Limit)
			case o.res.MemoryPeak > 33<<20:
				t.Errorf("bomb %d: peak %d past the 32 MiB limit", i, o.res.MemoryPeak)
			default:
				t.Logf("bomb %d: %v, limit %q, peak %.1f MiB, wall %v", i, o.res, o.res.Limit,
					float64(o.res.MemoryPeak)/(1<<20), o.res.Wall.Round(time.Millisecond))
			}
		}
		t.Logf("host after 8 memory bombs: VmRSS %d MiB", faultRSS()>>20)
		faultFinish(t, before)
	})

	t.Run("bind-source-gone", func(t *testing.T) {
		for _, limited := range []bool{false, true} {
			t.Run("before-run"+faultLimName(limited), func(t *testing.T) {
				before := testutil.Take()
				dir := filepath.Join(t.TempDir(), "src")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				opts := sandbox.Options{}
				if limited {
					opts = faultLimited(sandbox.Limits{Pids: 64})
				}
				opts.Mounts = []sandbox.Mount{sandbox.Bind(dir, "/data")}
				sb := sandbox.New(opts) // validates dir: it exists now
				if err := os.Remove(dir); err != nil {
					t.Fatal(err)
				}
				p, err := sb.Run(sandbox.Command("/bin/true"))
				if err == nil {
					res, werr := p.Wait()
					t.Fatalf("Run with a vanished bind source succeeded: %v, %v", res, werr)
				}
				var se *sandbox.SetupError
				if !errors.As(err, &se) || se.Path != dir || !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Run with a vanished bind source: %v (%#v); want a SetupError naming %s and matching fs.ErrNotExist", err, se, dir)
				} else {
					t.Logf("Run: %v", err)
				}
				faultFinish(t, before)
			})
		}
		t.Run("while-running", func(t *testing.T) {
			before := testutil.Take()
			dir := filepath.Join(t.TempDir(), "src")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			c := sandbox.Command("/bin/sh", "-c", `exec 3</data/f; echo ready; read x
				if [ -e /data/f ]; then echo present; else echo gone; fi
				cat <&3; ls -A /data | wc -l; touch /data/new 2>/dev/null && echo wrote || echo refused; echo end`)
			c.Stdin, c.Stdout = inR, outW
			p, err := sandbox.New(sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}}).Run(c)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(outR)
			if !sc.Scan() || sc.Text() != "ready" {
				p.Kill()
				t.Fatalf("command did not get ready: %q", sc.Text())
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Errorf("removing the bind source while the sandbox runs: %v", err)
			}
			inW.Write([]byte("go\n"))
			inW.Close()
			var lines []string
			done := make(chan struct{})
			go func() {
				for sc.Scan() {
					lines = append(lines, sc.Text())
				}
				close(done)
			}()
			res, err := faultWait(t, p, 5*time.Second*faultSlow)
			outW.Close()
			<-done
			want := []string{"gone", "hello", "0", "refused", "end"}
			if err != nil || !res.Success() || !slices.Equal(lines, want) {
				t.Errorf("after its bind source was removed, the command: %v, %v, said %q; want %q", res, err, lines, want)
			} else {
				t.Logf("source removed under a running sandbox: the command sees it gone, keeps the inode it had open: %q", lines)
			}
			faultFinish(t, before)
		})
	})
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
	if want := map[string]int{"after-run": 3, "running": 5, "wait": 5}[stage]; len(tree) < want {
		t.Errorf("helper host-%s had %v when it died; want the helper, the init and the command", stage, tree)
	}
	faultAssertGone(t, tree)

	// A killed host cannot remove its cgroup; the next limited sandbox
	// under the same parent must (or another host's, sharing the parent,
	// may have already).
	left := faultOwnCgroups(h.Process.Pid)
	if limited && (stage == "after-run" || stage == "running" || stage == "wait") && len(had) == 0 {
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
// (corral-<pid>.<start>-<n>), or 0.
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

// faultMany runs total sandboxes of /bin/true, inFlight at a time, half of
// them with a cgroup. Each must succeed or fail with a clear error; none may hang.
func faultMany(t *testing.T, total, inFlight int) {
	type outcome struct {
		res  *sandbox.Result
		err  error
		hang bool
	}
	outs := make([]outcome, total)
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			opts := sandbox.Options{}
			if i%2 == 1 {
				opts = faultLimited(sandbox.Limits{Pids: 64})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*faultSlow)
			defer cancel()
			p, err := sandbox.New(opts).RunContext(ctx, sandbox.Command("/bin/true"))
			if err == nil {
				outs[i].res, err = p.Wait()
			}
			outs[i].err = err
			outs[i].hang = errors.Is(err, context.DeadlineExceeded)
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(90 * time.Second * faultSlow):
		t.Fatalf("%d sandboxes, %d at a time: not all done after %v", total, inFlight, 90*time.Second*faultSlow)
	}
	wall := time.Since(start)
	var ok, failed int
	errs := map[string]int{}
	for i, o := range outs {
		switch {
		case o.hang:
			t.Errorf("run %d hung: %v", i, o.err)
		case o.err != nil:
			failed++
			errs[o.err.Error()]++
			if !faultClear(o.err) {
				t.Errorf("run %d failed with an unclear error: %v", i, o.err)
			}
		case !o.res.Success():
			t.Errorf("run %d: /bin/true ended %v", i, o.res)
		default:
			ok++
		}
	}
	t.Logf("%d runs of /bin/true, %d at a time, half with a cgroup: %d succeeded, %d failed, in %v", total, inFlight, ok, failed, wall.Round(time.Millisecond))
	for e, n := range errs {
		t.Logf("  %d× %s", n, e)
	}
}

// faultClear reports whether err says what failed: one of the library's
// typed errors, or a "sandbox: ..." error wrapping its cause.
func faultClear(err error) bool {
	var se *sandbox.SetupError
	var fe *sandbox.FeatureError
	var oe *sandbox.OptionError
	if errors.As(err, &se) || errors.As(err, &fe) || errors.As(err, &oe) {
		return true
	}
	return strings.HasPrefix(err.Error(), "sandbox: ") && errors.Unwrap(err) != nil
}

// faultSigtermHeld sends SIGTERM to a command that ignores it and checks
// that it keeps running.
func faultSigtermHeld(t *testing.T, p *sandbox.Process, tree []int) {
	t.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal(SIGTERM): %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, pid := range tree {
		if !testutil.Alive(pid) {
			t.Errorf("process %d of %v died of a SIGTERM the command ignores", pid, tree)
		}
	}
}

// faultStartReady starts script and waits for it to print "ready"; it
// returns the sandbox's tree of processes then and a function to call after
// Wait, which ends the reading of the rest of the output.
func faultStartReady(t *testing.T, ctx context.Context, opts sandbox.Options, script string) (*sandbox.Process, []int, func()) {
	t.Helper()
	r, w := io.Pipe()
	c := sandbox.Command("/bin/sh", "-c", script)
	c.Stdout = w
	p, err := sandbox.New(opts).RunContext(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(r)
		sc.Scan()
		ready <- sc.Text()
		io.Copy(io.Discard, r)
		close(drained)
	}()
	stop := func() { w.Close(); <-drained }
	select {
	case l := <-ready:
		if l != "ready" {
			p.Kill()
			p.Wait()
			stop()
			t.Fatalf("script said %q, not ready", l)
		}
	case <-time.After(10 * time.Second * faultSlow):
		p.Kill()
		p.Wait()
		stop()
		t.Fatal("script not ready in time")
	}
	return p, faultWaitTree(p.Pid(), 3), stop
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

// faultEndless is a stdin that never ends.
type faultEndless struct{}

func (faultEndless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// faultSlowWriter is a slow reader of the command's output: 1 ms per write.
type faultSlowWriter struct {
	mu        sync.Mutex
	n, writes int64
}

func (w *faultSlowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	w.mu.Lock()
	w.n += int64(len(p))
	w.writes++
	w.mu.Unlock()
	return len(p), nil
}

func (w *faultSlowWriter) figures() (n, writes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, w.writes
}
