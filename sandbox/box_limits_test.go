package sandbox_test

// The limits and the live figures (Stats) of a Box.

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// boxStats starts a Box and returns it and its first Stats; it skips,
// saying why, where the host gives the Box no cgroup (the FeatureError
// is checked first).
func boxStats(t *testing.T, opts sandbox.Options) (*sandbox.Box, sandbox.Stats) {
	t.Helper()
	x := startBox(t, opts)
	st, err := x.Stats()
	var fe *sandbox.FeatureError
	if errors.As(err, &fe) {
		if !errors.Is(err, sandbox.ErrNotSupported) || fe.Feature != "cgroups" || fe.Fix == "" {
			t.Fatalf("Stats without a cgroup: %v; want a FeatureError for cgroups with a fix", err)
		}
		t.Skipf("no cgroup for a Box on this host, Stats says: %v", err)
	}
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return x, st
}

func TestBoxStats(t *testing.T) {
	x, st := boxStats(t, sandbox.Options{})
	if st.Processes != 0 {
		t.Errorf("Processes %d with no command running; want 0", st.Processes)
	}
	for range 3 {
		startSleep(t, x)
	}
	if st, _ = x.Stats(); st.Processes != 3 {
		t.Errorf("Processes %d with 3 sleeps running; want 3", st.Processes)
	}

	_, res := execSh(t, x, `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`)
	after, err := x.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if res.CPUTime < 20*time.Millisecond || after.CPUTime-st.CPUTime < res.CPUTime/2 {
		t.Errorf("a busy loop of %v CPU time: the Box's CPU time went from %v to %v", res.CPUTime, st.CPUTime, after.CPUTime)
	}
	if after.InitCPUTime <= 0 {
		t.Errorf("InitCPUTime %v", after.InitCPUTime)
	}

	if st.Memory < 0 {
		t.Logf("memory not checked: the Box's cgroup has no memory controller")
		return
	}
	// Files in /tmp (a tmpfs) are memory charged to the command that wrote
	// them, and held after it exits.
	execSh(t, x, `head -c 67108864 /dev/zero > /tmp/big`)
	held, _ := x.Stats()
	if held.Memory-after.Memory < 60<<20 || held.MemoryPeak < held.Memory {
		t.Errorf("64 MiB written to /tmp: memory went from %d to %d (peak %d)", after.Memory, held.Memory, held.MemoryPeak)
	}
	execSh(t, x, `rm /tmp/big`)
	if freed, _ := x.Stats(); held.Memory-freed.Memory < 60<<20 {
		t.Errorf("control: /tmp/big removed, memory went from %d to %d only", held.Memory, freed.Memory)
	}
}

// TestBoxPidsLimit: Limits.Pids bounds the processes of two Execs
// together; the control without the limit starts them all.
func TestBoxPidsLimit(t *testing.T) {
	// Each Exec leaves 10 sleeps in the background (its shell exits
	// when a fork fails); the count is the cgroup's, once both exited.
	count := func(t *testing.T, lim sandbox.Limits) (int, sandbox.Stats, *sandbox.Result) {
		t.Helper()
		x, _ := boxStats(t, sandbox.Options{Limits: lim})
		const start = `i=0; while [ $i -lt 10 ]; do sleep 1000 >/dev/null 2>&1 & i=$((i+1)); done`
		execSh(t, x, start)
		_, res := execSh(t, x, start)
		st, err := x.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.Processes, st, res
	}
	requireSandbox(t)
	x, err := sandbox.New(limited(sandbox.Limits{Pids: 16})).Start(context.Background())
	if errors.Is(err, sandbox.ErrNotSupported) {
		t.Skipf("Limits.Pids for a Box needs a cgroup, which this host does not give: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	x.Stop()
	t.Run("limited", func(t *testing.T) {
		n, st, res := count(t, sandbox.Limits{Pids: 16})
		if n < 10 || n > 16 || st.PidsLimitHits == 0 {
			t.Errorf("two Execs of 10 sleeps each under Pids 16: %d processes left, %d forks refused; want 10 to 16, and refusals", n, st.PidsLimitHits)
		}
		if !res.PidsLimitHit || res.Limit != sandbox.LimitPids {
			t.Errorf("the second Exec, whose forks were refused: %v, PidsLimitHit %v, Limit %q; want the pids limit named", res, res.PidsLimitHit, res.Limit)
		}
	})
	t.Run("control", func(t *testing.T) {
		if n, st, res := count(t, sandbox.Limits{}); n != 20 || st.PidsLimitHits != 0 || res.PidsLimitHit || res.Limit != "" {
			t.Errorf("two Execs of 10 sleeps each, no limit: %d processes left, %d forks refused, last %v (Limit %q); want 20, 0, no limit", n, st.PidsLimitHits, res, res.Limit)
		}
	})
}

// TestBoxTimeLimit: Limits.Time ends the Box, and Err names the limit.
func TestBoxTimeLimit(t *testing.T) {
	x := startBox(t, sandbox.Options{Limits: sandbox.Limits{Time: 500 * time.Millisecond}})
	p := startSleep(t, x)
	<-x.Done()
	var le *sandbox.LimitError
	if err := x.Err(); !errors.As(err, &le) || le.Limit != sandbox.LimitTime {
		t.Errorf("Err of a Box past Limits.Time: %v", err)
	}
	if res, err := p.Wait(); !errors.As(err, &le) || res.Signal != syscall.SIGKILL {
		t.Errorf("a command of a Box past its time: %v, %v", res, err)
	}
}

// TestBoxStatsWithoutCgroup: a Box that runs without a cgroup (degraded
// here on purpose: its parent does not exist) says so from Stats, as a
// FeatureError, and runs its commands all the same.
func TestBoxStatsWithoutCgroup(t *testing.T) {
	x := startBox(t, sandbox.Options{Degrade: true, CgroupParent: "corral-no-such-parent", Limits: sandbox.Limits{Pids: 64}})
	_, err := x.Stats()
	var fe *sandbox.FeatureError
	if !errors.Is(err, sandbox.ErrNotSupported) || !errors.As(err, &fe) || fe.Feature != "cgroups" || fe.Fix == "" {
		t.Errorf("Stats of a Box without a cgroup: %v; want a FeatureError for cgroups with a fix", err)
	}
	if out, res := execSh(t, x, "echo ok"); !res.Success() || out != "ok\n" || len(res.Degraded) == 0 {
		t.Errorf("Exec into a degraded Box: %v %q, Degraded %q", res, out, res.Degraded)
	}
}

// TestBoxMemoryLimit: Limits.Memory bounds what two Execs hold together:
// 40 MiB in /tmp and 40 MiB in /work (two tmpfs mounts, each bounded
// alone by the limit) do not fit in 64 MiB, and do in 256 MiB.
func TestBoxMemoryLimit(t *testing.T) {
	fill := func(t *testing.T, mem int64) (*sandbox.Result, sandbox.Stats) {
		t.Helper()
		x, st := boxStats(t, sandbox.Options{Limits: sandbox.Limits{Memory: mem}})
		if st.Memory < 0 {
			t.Skip("the Box's cgroup has no memory controller here")
		}
		if _, res := execSh(t, x, `head -c 41943040 /dev/zero > /tmp/a`); !res.Success() {
			t.Fatalf("the first 40 MiB under %d MiB: %v", mem>>20, res)
		}
		_, res := execSh(t, x, `head -c 41943040 /dev/zero > /work/b`)
		st, _ = x.Stats()
		return res, st
	}
	requireSandbox(t)
	x, err := sandbox.New(limited(sandbox.Limits{Memory: 64 << 20})).Start(context.Background())
	if errors.Is(err, sandbox.ErrNotSupported) {
		t.Skipf("Limits.Memory for a Box needs a cgroup, which this host does not give: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	x.Stop()
	t.Run("limited", func(t *testing.T) {
		if res, st := fill(t, 64<<20); res.Success() || st.MemoryPeak > 64<<20 {
			t.Errorf("80 MiB in two Execs under a 64 MiB limit: %v, peak %d", res, st.MemoryPeak)
		}
	})
	t.Run("control", func(t *testing.T) {
		if res, st := fill(t, 256<<20); !res.Success() || st.Memory < 80<<20 {
			t.Errorf("80 MiB in two Execs under a 256 MiB limit: %v, memory %d", res, st.Memory)
		}
	})
}

// TestBoxMemoryLimitResult: a command of a Box that the OOM killer ends at
// Limits.Memory says so in its Result, as a Run's does; the next command
// of the Box, within the limit, says nothing of it.
func TestBoxMemoryLimitResult(t *testing.T) {
	requireSandbox(t)
	x, err := sandbox.New(limited(sandbox.Limits{Memory: 64 << 20})).Start(context.Background())
	if errors.Is(err, sandbox.ErrNotSupported) {
		t.Skipf("Limits.Memory for a Box needs a cgroup, which this host does not give: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Stop() })
	if st, err := x.Stats(); err != nil || st.Memory < 0 {
		t.Skipf("the Box's cgroup has no memory controller here (%v)", err)
	}
	// tail keeps the last 512 MiB of its 1 GiB input: it grows until the
	// OOM killer ends it, and the shell exits with its status; or, where
	// the OOM killer takes the whole cgroup (cgroup v2's memory.oom.group),
	// the shell is killed with it.
	_, res := execSh(t, x, `head -c 1073741824 /dev/zero | tail -c 536870912 >/dev/null`)
	if !res.OOMKilled || res.Limit != sandbox.LimitMemory || res.ExitCode != 128+int(syscall.SIGKILL) && res.Signal != syscall.SIGKILL {
		t.Errorf("tail holding 512 MiB under a 64 MiB limit: %v, OOMKilled %v, Limit %q; want killed at the memory limit", res, res.OOMKilled, res.Limit)
	}
	// The control: 1 MiB fits, and the earlier kill is not this one's.
	if _, res := execSh(t, x, `head -c 1048576 /dev/zero | tail -c 1048576 >/dev/null`); !res.Success() || res.OOMKilled || res.Limit != "" {
		t.Errorf("1 MiB under a 64 MiB limit, after the kill: %v, OOMKilled %v, Limit %q; want a success", res, res.OOMKilled, res.Limit)
	}
}

// TestBoxOutputLimit: Limits.Output ends the command that passes it, not
// the Box.
func TestBoxOutputLimit(t *testing.T) {
	x := startBox(t, sandbox.Options{Limits: sandbox.Limits{Output: 1000}})
	out, res := execSh(t, x, `yes`)
	if res.Limit != sandbox.LimitOutput || !res.OutputTruncated || len(out) != 1000 || res.Signal != syscall.SIGKILL {
		t.Errorf("yes under Output 1000: %v, limit %q, truncated %v, %d bytes", res, res.Limit, res.OutputTruncated, len(out))
	}
	if out, res := execSh(t, x, "echo ok"); !res.Success() || out != "ok\n" || x.Err() != nil {
		t.Errorf("the Box after one command passed its output limit: %v %q, Err %v", res, out, x.Err())
	}
}
