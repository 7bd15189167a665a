package sandbox_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// floodInit signals the init, as a whole and each of its threads, for
// 1.5 s, and prints kill(1)'s error and the CPU time the flood spent, in
// ms. The init's threads are hidden (hidepid); in a new pid namespace
// their ids are small, so it tries each (tgkill fails with ESRCH where
// there is none). The host measures the init's CPU time.
func floodInit() int {
	selfCPU := func() int64 {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru)
		return ru.Utime.Sec*1000 + ru.Utime.Usec/1000 + ru.Stime.Sec*1000 + ru.Stime.Usec/1000
	}
	selfBefore, start := selfCPU(), time.Now()
	killErr := "ok"
	sigs := []unix.Signal{unix.SIGPWR, unix.SIGURG, unix.SIGIO}
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		for i := 0; i < 100; i++ {
			sig := sigs[i%len(sigs)]
			if err := unix.Kill(1, sig); err != nil {
				killErr = unix.ErrnoName(err.(unix.Errno))
			}
		}
		for tid := 2; tid <= 64; tid++ {
			unix.Tgkill(1, tid, sigs[tid%len(sigs)])
		}
	}
	time.Sleep(50 * time.Millisecond) // the init catches up
	self := selfCPU()
	fmt.Printf("kill=%s self=%d flood=%d window=%d\n", killErr, self, self-selfBefore, time.Since(start).Milliseconds())
	return 0
}

// TestSignalFloodAccounted: without Landlock's signal scope (before Linux
// 6.12, and here by the test's switch) a command can make its init work
// by signalling it. The init's CPU time then counts in the run's
// (Result.CPUTime, Limits.CPUTime), and on cgroup v2 Limits.CPUs bounds the
// two together.
func TestSignalFloodAccounted(t *testing.T) {
	defer sandbox.SetSignalScope(sandbox.SetSignalScope(false))
	const cpus = 0.5
	opts := limited(sandbox.Limits{CPUs: cpus, CPUTime: time.Minute})
	opts.Mounts = []sandbox.Mount{probe(t)}
	requireSandbox(t)
	var stdout, stderr bytes.Buffer
	cmd := helperCmd("flood-init")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	p, err := newSandbox(t, opts).Run(cmd)
	if err != nil {
		t.Fatal(err)
	}
	initCPU, waited := make(chan int64, 1), make(chan struct{})
	go func() { initCPU <- testutil.CPUUntil(p.Pid(), waited) }()
	res, err := p.Wait()
	close(waited)
	if err != nil {
		t.Fatal(err)
	}
	initMs := <-initCPU
	out, errs := stdout.String(), stderr.String()
	if res.Cgroup == "" {
		t.Fatalf("the run had no cgroup (stderr %q)", errs)
	}
	var kill string
	var selfMs, floodMs, windowMs int64
	if _, err := fmt.Sscanf(out, "kill=%s self=%d flood=%d window=%d", &kill, &selfMs, &floodMs, &windowMs); err != nil || !res.Success() {
		t.Fatalf("flood: %q (%v), stderr %q; %v", out, err, errs, res)
	}
	t.Logf("kill(1) %s; in %d ms the init spent %d ms, the flood %d ms (%d ms in all); Result.CPUTime %v, wall %v",
		kill, windowMs, initMs, floodMs, selfMs, res.CPUTime, res.Wall)
	// The controls: the signals reached the init, and made it work.
	if kill != "ok" || initMs < 50 {
		t.Fatalf("kill(1) %s, the init spent %d ms: the flood did not reach it", kill, initMs)
	}
	// /proc figures are in clock ticks (10 ms): allow 3 of them.
	if got, want := res.CPUTime.Milliseconds(), selfMs+initMs-30; got < want {
		t.Errorf("Result.CPUTime %d ms, want >= %d ms: the flood's %d ms and the init's %d ms", got, want, selfMs, initMs)
	}
	// Over the flood, both together had 0.5 cores (CFS allows a period's
	// worth of burst: 20% and 3 ticks of slack). Only on cgroup v2: on v1
	// the init, but for its launcher thread, is not in the sandbox's
	// cgroup (see internal/cgroup/cpu.go).
	var fs unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &fs) != nil || fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return
	}
	if got, bound := floodMs+initMs, int64(cpus*float64(windowMs)*1.2)+30; got > bound {
		t.Errorf("the flood and the init spent %d ms in %d ms, want <= %d ms (%.1f cores)", got, windowMs, bound, cpus)
	}
}

// signalScoped reports whether the kernel has Landlock's signal scope.
func signalScoped() bool {
	abi, _ := isolate.LandlockABI()
	return isolate.LandlockScopes(abi)&isolate.ScopeSignal != 0
}
