package adversarial

// The soak: thousands of runs across 8 concurrent workers, mixing normal
// commands and bombs, each run's Result checked against what its kind must
// produce, with a leak check every 1,000 runs and at the end: host RSS,
// open fds, goroutines, children, cgroups, mounts and temp dirs.
//
// CORRAL_SOAK=full (make soak) makes 10,000 runs; CORRAL_SOAK=N makes N;
// otherwise the short CI version makes 200 (32 in the VM lane), with a leak
// check every 100 (32).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

const (
	soakWorkers   = 8
	soakRSSGrowth = 64 << 20 // most the host's RSS may grow over the soak
)

// soakKind is one kind of run: its options, its command and what its
// Result must be.
type soakKind struct {
	name string
	opts sandbox.Options
	// cmd returns the command for run i (i < 0: warm-up) and its stdin, or "".
	cmd func(i int) (*sandbox.Cmd, string)
	// check returns what is wrong with the run, or "".
	check func(i int, res *sandbox.Result, stdout []byte, stdin string) string
}

// soakBombRaging reports whether run i's fork bomb is the one that rages
// until Limits.Time ends it (one bomb in ten) rather than ending itself.
func soakBombRaging(i int) bool { return i >= 0 && (i/8)%10 == 0 }

func soakKinds() []soakKind {
	sh := func(script string) func(int) (*sandbox.Cmd, string) {
		return func(int) (*sandbox.Cmd, string) { return sandbox.Command("/bin/sh", "-c", script), "" }
	}
	ok := func(want string) func(int, *sandbox.Result, []byte, string) string {
		return func(_ int, r *sandbox.Result, out []byte, in string) string {
			want := want
			if want == "" {
				want = in
			}
			switch {
			case !r.Success() || r.Limit != "" || r.OOMKilled || r.TimedOut || r.OutputTruncated:
				return fmt.Sprintf("%v, limit %q; want exit status 0 and no limit", r, r.Limit)
			case string(out) != want:
				return fmt.Sprintf("stdout %q; want %q", out, want)
			}
			return ""
		}
	}
	killedBy := func(limit string) func(int, *sandbox.Result, []byte, string) string {
		return func(_ int, r *sandbox.Result, _ []byte, _ string) string {
			if r.Limit != limit || r.Signal != syscall.SIGKILL {
				return fmt.Sprintf("%v, limit %q; want signal: killed, limit %q", r, r.Limit, limit)
			}
			return ""
		}
	}
	return []soakKind{
		{name: "true", cmd: func(int) (*sandbox.Cmd, string) { return sandbox.Command("/bin/true"), "" }, check: ok("")},
		{name: "echo", cmd: sh(`echo hi`), check: ok("hi\n")},
		{name: "stdin", cmd: func(i int) (*sandbox.Cmd, string) {
			return sandbox.Command("/bin/sh", "-c", `cat`), "soak run " + strconv.Itoa(i) + "\n"
		}, check: ok("")},
		{
			name: "memory-bomb",
			opts: faultLimited(sandbox.Limits{Memory: 32 << 20, Time: 20 * time.Second * faultSlow}),
			cmd:  func(int) (*sandbox.Cmd, string) { return sandbox.Command("tail", "/dev/zero"), "" },
			check: func(i int, r *sandbox.Result, out []byte, in string) string {
				if m := killedBy(sandbox.LimitMemory)(i, r, out, in); m != "" {
					return m
				}
				if !r.OOMKilled || r.MemoryPeak > 33<<20 {
					return fmt.Sprintf("OOM killed %v, peak %d; want true, at most 32 MiB", r.OOMKilled, r.MemoryPeak)
				}
				return ""
			},
		},
		{
			name: "fork-bomb",
			opts: faultLimited(sandbox.Limits{Pids: 16, Time: 2 * time.Second * faultSlow}),
			// The bomb runs in a subshell (a fork it makes fail ends that,
			// not the command) beside a sleep started first. The command
			// then waits, with builtins only, for the bomb's first "can't
			// fork" and exits, which ends the sandbox and the bomb; or (one
			// bomb in ten) waits for the sleep until Limits.Time (2 s, 20 s
			// in the VM) kills it all.
			cmd: func(i int) (*sandbox.Cmd, string) {
				if soakBombRaging(i) {
					return sandbox.Command("/bin/sh", "-c", `sleep 30 & (f() { f | f & }; f); wait`), ""
				}
				return sandbox.Command("/bin/sh", "-c", `sleep 30 & (f() { f | f & }; f) 2>/tmp/bomb &
					i=0; while [ ! -s /tmp/bomb ] && [ $i -lt 100000 ]; do i=$((i+1)); done; exit 0`), ""
			},
			check: func(i int, r *sandbox.Result, out []byte, in string) string {
				if !r.PidsLimitHit {
					return fmt.Sprintf("%v, limit %q, pids limit hit %v; want the 16-pid limit hit", r, r.Limit, r.PidsLimitHit)
				}
				if soakBombRaging(i) {
					return killedBy(sandbox.LimitTime)(i, r, out, in)
				}
				if r.Limit != sandbox.LimitPids {
					return fmt.Sprintf("%v, limit %q; want limit pids", r, r.Limit)
				}
				return ""
			},
		},
		{
			name: "yes",
			opts: sandbox.Options{Limits: sandbox.Limits{Output: 10 << 10, Time: 20 * time.Second * faultSlow}},
			cmd:  func(int) (*sandbox.Cmd, string) { return sandbox.Command("yes"), "" },
			check: func(i int, r *sandbox.Result, out []byte, in string) string {
				if m := killedBy(sandbox.LimitOutput)(i, r, out, in); m != "" {
					return m
				}
				if !r.OutputTruncated || len(out) != 10<<10 {
					return fmt.Sprintf("truncated %v, %d bytes through; want true, 10240", r.OutputTruncated, len(out))
				}
				return ""
			},
		},
		{
			name: "sleep",
			opts: sandbox.Options{Limits: sandbox.Limits{Time: 100 * time.Millisecond}},
			cmd:  func(int) (*sandbox.Cmd, string) { return sandbox.Command("sleep", "10"), "" },
			check: func(i int, r *sandbox.Result, out []byte, in string) string {
				if m := killedBy(sandbox.LimitTime)(i, r, out, in); m != "" {
					return m
				}
				if !r.TimedOut || r.Wall < 100*time.Millisecond || r.Wall > 10*time.Second*faultSlow {
					return fmt.Sprintf("timed out %v after %v; want true, after 100ms", r.TimedOut, r.Wall)
				}
				return ""
			},
		},
		{
			name: "cpu-spinner",
			opts: faultLimited(sandbox.Limits{CPUTime: 100 * time.Millisecond, Time: 20 * time.Second * faultSlow}),
			cmd:  sh(`while :; do :; done`),
			check: func(i int, r *sandbox.Result, out []byte, in string) string {
				if m := killedBy(sandbox.LimitCPUTime)(i, r, out, in); m != "" {
					return m
				}
				if r.CPUTime < 100*time.Millisecond {
					return fmt.Sprintf("ended after %v of CPU; want at least 100ms", r.CPUTime)
				}
				return ""
			},
		},
	}
}

// soakRun makes run i of kind k, in a new Sandbox, and returns what is wrong
// with it, or "".
func soakRun(k soakKind, i int) string {
	cmd, in := k.cmd(i)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if in != "" {
		cmd.Stdin = strings.NewReader(in)
	}
	if k.name == "fork-bomb" {
		cmd.Stderr = nil // thousands of "can't fork"
	}
	// No kind runs for more than 2 s: a minute means a hang.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute*faultSlow)
	defer cancel()
	p, err := sandbox.New(k.opts).RunContext(ctx, cmd)
	if err != nil {
		return "Run: " + err.Error()
	}
	res, err := p.Wait()
	if err != nil {
		return fmt.Sprintf("Wait: %v (%v, stderr %q)", err, res, errb.String())
	}
	if m := k.check(i, res, out.Bytes(), in); m != "" {
		return m + fmt.Sprintf(" (stderr %q)", errb.String())
	}
	return ""
}

// soakFigures are the host's figures at a checkpoint.
type soakFigures struct {
	rss        int64
	fds        int
	goroutines int
}

func soakMeasure(base int) soakFigures {
	// Goroutines of finished runs may take a moment to end.
	g := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); g > base+5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		g = runtime.NumGoroutine()
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	return soakFigures{rss: faultRSS(), fds: len(fds), goroutines: g}
}

func TestSoak(t *testing.T) {
	requireSandbox(t)
	n, every := faultCount(200, 32), faultCount(100, 16)
	switch v := os.Getenv("CORRAL_SOAK"); v {
	case "":
	case "full":
		n, every = 10000, 1000
	default:
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("CORRAL_SOAK=%q: want full or a number of runs", v)
		}
		every = 1000
	}
	kinds := soakKinds()
	// Warm-up, not counted: one run of each kind, so the baseline includes
	// what the runtime and the library keep once they have run.
	for _, k := range kinds {
		if m := soakRun(k, -1); m != "" {
			t.Fatalf("warm-up %s: %s", k.name, m)
		}
	}
	baseSnap := testutil.Take()
	baseG := runtime.NumGoroutine()
	base := soakMeasure(baseG)
	t.Logf("soak: %d runs, %d workers, %d kinds; baseline RSS %.1f MiB, %d fds, %d goroutines, %d cgroups, %d mounts",
		n, soakWorkers, len(kinds), soakMiB(base.rss), base.fds, base.goroutines, len(baseSnap.Cgroups), baseSnap.Mounts)

	type perKind struct {
		runs, failures atomic.Int64
		wall           atomic.Int64 // ns
	}
	stats := make([]perKind, len(kinds))
	var logged atomic.Int64
	start := time.Now()
	maxRSS := base.rss
	var next atomic.Int64
	for done := 0; done < n; {
		batch := min(every, n-done)
		end := int64(done + batch)
		var wg sync.WaitGroup
		for range soakWorkers {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= end {
						return
					}
					ki := int(i) % len(kinds)
					t0 := time.Now()
					m := soakRun(kinds[ki], int(i))
					stats[ki].wall.Add(int64(time.Since(t0)))
					stats[ki].runs.Add(1)
					soakRuns.Add(1)
					if m != "" {
						stats[ki].failures.Add(1)
						soakFailures.Add(1)
						if logged.Add(1) <= 20 {
							t.Errorf("run %d (%s): %s", i, kinds[ki].name, m)
						}
					}
				}
			})
		}
		wg.Wait()
		next.Store(end)
		done += batch

		// Checkpoint: no run is in flight.
		f := soakMeasure(baseG)
		maxRSS = max(maxRSS, f.rss)
		leaks := ourLeaks(t, baseSnap)
		cur := testutil.Take()
		t.Logf("%5d runs, %d failures, %v: RSS %.1f MiB (%+.1f), %d fds (%+d), %d goroutines (%+d), %d cgroups, %d mounts, leaks %d",
			done, soakFailures.Load(), time.Since(start).Round(time.Millisecond), soakMiB(f.rss), soakMiB(f.rss-base.rss),
			f.fds, f.fds-base.fds, f.goroutines, f.goroutines-base.goroutines,
			len(cur.Cgroups), cur.Mounts, len(leaks))
		for _, l := range leaks {
			t.Errorf("after %d runs: leak: %s", done, l)
		}
		if f.goroutines > base.goroutines+5 || f.goroutines < base.goroutines-5 {
			t.Errorf("after %d runs: %d goroutines; baseline %d (±5)", done, f.goroutines, base.goroutines)
		}
		if len(leaks) > 0 {
			t.FailNow() // leaks compound: stop at the first checkpoint that has one
		}
	}
	wall := time.Since(start)
	final := soakMeasure(baseG)
	growth := final.rss - base.rss
	for ki, k := range kinds {
		s := &stats[ki]
		if r := s.runs.Load(); r > 0 {
			t.Logf("  %-12s %5d runs, %d failures, mean wall %v", k.name, r, s.failures.Load(),
				(time.Duration(s.wall.Load()) / time.Duration(r)).Round(time.Millisecond))
		}
	}
	t.Logf("soak done: %d runs, %d failures in %v (%.1f runs/s); RSS %.1f MiB before, %.1f MiB after (%+.1f MiB, peak %.1f MiB)",
		soakRuns.Load(), soakFailures.Load(), wall.Round(time.Millisecond), float64(n)/wall.Seconds(),
		soakMiB(base.rss), soakMiB(final.rss), soakMiB(growth), soakMiB(maxRSS))
	if growth > soakRSSGrowth {
		t.Errorf("host RSS grew by %.1f MiB over the soak (%.1f -> %.1f MiB); want at most %d MiB",
			soakMiB(growth), soakMiB(base.rss), soakMiB(final.rss), soakRSSGrowth>>20)
	}
}

func soakMiB(b int64) float64 { return float64(b) / (1 << 20) }
