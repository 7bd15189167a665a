package sandbox_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// limited returns default options with lim and the test's cgroup parent.
func limited(lim sandbox.Limits) sandbox.Options {
	return sandbox.Options{Limits: lim, CgroupParent: testutil.CgroupParent()}
}

// runLimited runs script under lim and checks that the run had a cgroup.
func runLimited(t *testing.T, lim sandbox.Limits, script string) (string, *sandbox.Result) {
	t.Helper()
	out, errs, res := run(t, limited(lim), sandbox.Command("/bin/sh", "-c", script))
	if res.Cgroup == "" {
		t.Fatalf("the run had no cgroup (stderr %q)", errs)
	}
	t.Logf("%s: %v limit=%q cpu=%v peak=%d oom=%v pids=%v wall=%v cgroup=%s %v", script, res, res.Limit,
		res.CPUTime, res.MemoryPeak, res.OOMKilled, res.PidsLimitHit, res.Wall, res.Cgroup, res.Controllers)
	return out, res
}

func TestMemoryBomb(t *testing.T) {
	_, res := runLimited(t, sandbox.Limits{Memory: 32 << 20}, `tail /dev/zero`)
	if res.Limit != sandbox.LimitMemory || !res.OOMKilled {
		t.Errorf("memory bomb: limit %q, oom killed %v; want memory, true", res.Limit, res.OOMKilled)
	}
	if res.MemoryPeak < 16<<20 || res.MemoryPeak > 33<<20 {
		t.Errorf("memory peak %d; want close to, and not above, the 32 MiB limit", res.MemoryPeak)
	}
	// The test can fail: the same program under a bigger limit is not OOM-killed.
	_, res = runLimited(t, sandbox.Limits{Memory: 256 << 20}, `head -c 8000000 /dev/zero | tail | wc -c`)
	if res.OOMKilled || res.Limit != "" || !res.Success() || res.MemoryPeak < 8000000 {
		t.Errorf("8 MB under a 256 MiB limit: %v, limit %q, peak %d", res, res.Limit, res.MemoryPeak)
	}
}

func TestForkBomb(t *testing.T) {
	// The bomb runs in a subshell, which dies when fork fails; the outer
	// shell then counts the processes with builtins alone.
	out, res := runLimited(t, sandbox.Limits{Pids: 16, Time: 10 * time.Second}, `
		( i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done ) 2>/dev/null
		n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n`)
	if !res.PidsLimitHit || !res.Success() {
		t.Errorf("fork bomb under 16 pids: %v, pids limit hit %v", res, res.PidsLimitHit)
	}
	// The init (pid 1) is outside the command's cgroup: 16 for the command, 1 for it.
	if n, _ := strconv.Atoi(strings.TrimSpace(out)); n == 0 || n > 17 {
		t.Errorf("%q processes inside; want at most 16 and the init", out)
	}
	if res.Limit != sandbox.LimitPids {
		t.Errorf("limit %q; want pids", res.Limit)
	}
}

func TestCPUTimeLimit(t *testing.T) {
	for _, script := range []string{
		`while :; do :; done`,
		`(while :; do :; done) & (while :; do :; done) & while :; do :; done`, // summed over processes
	} {
		_, res := runLimited(t, sandbox.Limits{CPUTime: 300 * time.Millisecond, Time: 20 * time.Second}, script)
		if res.Limit != sandbox.LimitCPUTime || res.Signal != syscall.SIGKILL {
			t.Errorf("%s: limit %q, %v; want cpu-time and SIGKILL", script, res.Limit, res)
		}
		// The host polls the cgroup; in the emulated VM lane, where the
		// spinners leave the host's poller two emulated CPUs to share, it
		// gets more slack.
		slack := 150 * time.Millisecond
		if os.Getenv("CORRAL_VM") != "" {
			slack = time.Second
		}
		if res.CPUTime < 300*time.Millisecond || res.CPUTime > 300*time.Millisecond+slack {
			t.Errorf("%s: CPU time %v for a 300ms limit; want it ended within 100 ms (and some slack for the kill)", script, res.CPUTime)
		}
	}
}

func TestCPUsLimit(t *testing.T) {
	_, res := runLimited(t, sandbox.Limits{CPUs: 0.2, Time: time.Second}, `while :; do :; done`)
	if res.Limit != sandbox.LimitTime {
		t.Errorf("limit %q; want time", res.Limit)
	}
	// A spinner alone would take about the whole second.
	if res.CPUTime > 500*time.Millisecond || res.CPUTime < 50*time.Millisecond {
		t.Errorf("a spinner under 0.2 CPUs used %v of CPU in %v", res.CPUTime, res.Wall)
	}
}

func TestWallTimeLimit(t *testing.T) {
	// Time needs no cgroup: the host kills the sandbox.
	_, _, res := run(t, sandbox.Options{Limits: sandbox.Limits{Time: 200 * time.Millisecond}}, sandbox.Command("/bin/sh", "-c", `sleep 30 & sleep 30`))
	if !res.TimedOut || res.Limit != sandbox.LimitTime || res.Signal != syscall.SIGKILL || res.Wall > 10*time.Second {
		t.Errorf("sleep under a 200ms wall limit: %v, timed out %v, limit %q, wall %v", res, res.TimedOut, res.Limit, res.Wall)
	}
}

func TestOutputLimit(t *testing.T) {
	var out, errb strings.Builder
	c := sandbox.Command("/bin/sh", "-c", `yes err >&2 & yes out`)
	c.Stdout, c.Stderr = &out, &errb
	_, _, res := run(t, limited(sandbox.Limits{Output: 10000}), c)
	if out.Len()+errb.Len() != 10000 || !res.OutputTruncated || res.Limit != sandbox.LimitOutput {
		t.Errorf("yes under a 10000-byte cap: %d+%d bytes, truncated %v, limit %q", out.Len(), errb.Len(), res.OutputTruncated, res.Limit)
	}
	// Output up to the cap passes whole and does not end the run.
	o, _, res := run(t, limited(sandbox.Limits{Output: 6}), sandbox.Command("/bin/echo", "hello"))
	if o != "hello\n" || res.OutputTruncated || res.Limit != "" || !res.Success() {
		t.Errorf("6 bytes under a 6-byte cap: %q, %v, limit %q", o, res, res.Limit)
	}
}

func TestDiskFiller(t *testing.T) {
	out := sh(t, sandbox.Options{Mounts: []sandbox.Mount{sandbox.Tmpfs("/tmp", 2<<20)}},
		`dd if=/dev/zero of=/tmp/fill bs=64k 2>&1 | grep -c "No space left"; du -k /tmp/fill | cut -f1`)
	// dd says "No space left" once, and the file fills the tmpfs: more
	// than half of it (1024 KiB; the rest is in partial blocks) and no more
	// than all of it (2048 KiB).
	var full, kib int
	f := strings.Fields(out)
	if len(f) == 2 {
		full, _ = strconv.Atoi(f[0])
		kib, _ = strconv.Atoi(f[1])
	}
	if full != 1 || kib <= 1024 || kib > 2048 {
		t.Errorf("filling a 2 MiB /tmp: %q; want 1 \"No space left\" and 1025 to 2048 KiB written", out)
	}
}

func TestNoCgroupIsAFeatureError(t *testing.T) {
	requireSandbox(t)
	opts := sandbox.Options{Limits: sandbox.Limits{Pids: 8}, CgroupParent: "corral-no-such-parent"}
	_, err := newSandbox(t, opts).Run(sandbox.Command("/bin/true"))
	var fe *sandbox.FeatureError
	if !errors.Is(err, sandbox.ErrNotSupported) || !errors.As(err, &fe) || fe.Feature != "cgroups" || fe.Fix == "" {
		t.Fatalf("limits without a usable cgroup: %v; want a FeatureError for cgroups with a fix", err)
	}
	// With Degrade the run goes on, under rlimits, and says so.
	opts.Degrade = true
	opts.Limits = sandbox.Limits{Pids: 8, CPUTime: time.Second, Time: 20 * time.Second}
	out, _, res := run(t, opts, sandbox.Command("/bin/sh", "-c", `
		( i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done ) 2>/dev/null
		n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n
		while :; do :; done`))
	if len(res.Degraded) == 0 || res.Cgroup != "" {
		t.Errorf("degraded run: Degraded %q, Cgroup %q", res.Degraded, res.Cgroup)
	}
	if res.Limit != sandbox.LimitCPUTime {
		t.Errorf("spinner under RLIMIT_CPU: %v, limit %q", res, res.Limit)
	}
	// RLIMIT_NPROC binds every user but the host's root.
	if n, _ := strconv.Atoi(strings.TrimSpace(out)); n == 0 || n >= 40 && os.Getuid() != 0 {
		t.Errorf("%q processes under RLIMIT_NPROC 8", out)
	}
}

// TestStaleCgroupsRemoved leaves a cgroup named for a dead host, as a host
// killed with SIGKILL would, and checks that the next sandbox removes it;
// one named for a host in another pid namespace, which cannot be judged
// from here, must be left alone.
func TestStaleCgroupsRemoved(t *testing.T) {
	requireSandbox(t)
	runLimited(t, sandbox.Limits{Pids: 64}, `true`) // the parent exists and is usable
	st, err := os.Stat("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	pidNS := st.Sys().(*syscall.Stat_t).Ino
	var stale, foreign []string
	for _, d := range testutil.CgroupDirs() {
		p := filepath.Join(d, fmt.Sprintf("corral-999999999.1.%d-1", pidNS))
		if err := os.Mkdir(p, 0o755); err == nil {
			stale = append(stale, p)
		}
		p = filepath.Join(d, "corral-999999999.1.1-1")
		if err := os.Mkdir(p, 0o755); err == nil {
			foreign = append(foreign, p)
			t.Cleanup(func() { os.Remove(p) })
		}
	}
	if len(stale) == 0 || len(foreign) == 0 {
		t.Fatalf("could plant no stale cgroup in %q", testutil.CgroupDirs())
	}
	runLimited(t, sandbox.Limits{Pids: 64}, `true`)
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("stale cgroup %s was not removed", p)
		}
	}
	for _, p := range foreign {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the cgroup %s of a host in another pid namespace was removed: %v", p, err)
		}
	}
}

// TestCgroupView: with a cgroup, the command still sees none of the host's
// cgroup paths, and its cgroup is its own.
func TestCgroupView(t *testing.T) {
	out, res := runLimited(t, sandbox.Limits{Pids: 32}, `cat /proc/self/cgroup`)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		p := strings.SplitN(l, ":", 3)
		if len(p) != 3 || p[2] != "/" && p[2] != "/../cmd" {
			t.Errorf("cgroup line %q inside; want / (or /../cmd on cgroup v2)", l)
		}
	}
	if !slices.Contains(res.Controllers, "pids") {
		t.Errorf("controllers %q lack pids", res.Controllers)
	}
}

// TestOwnCgroupV2 runs a host program whose own cgroup v2 holds it, with no
// CgroupParent: the host moves itself into a leaf (corral-host) and creates
// sandbox cgroups beside it, as crun and podman do.
func TestOwnCgroupV2(t *testing.T) {
	requireSandbox(t)
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != 0x63677270 {
		t.Skip("needs pure cgroup v2 (the VM lane of make test runs it)")
	}
	own, _ := os.ReadFile("/proc/self/cgroup")
	base := strings.TrimSpace(strings.TrimPrefix(string(own), "0::"))
	if p := testutil.CgroupParent(); p != "" {
		base = p // the cgroup delegated to this user
	}
	dir := filepath.Join("/sys/fs/cgroup", base, "own-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer func() {
		os.Remove(filepath.Join(dir, "corral-host"))
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	}()
	exe, _ := os.Executable()
	host := exec.Command(exe, "own-cgroup")
	host.Env = []string{"CORRAL_TEST_HELPER=limited-run"}
	in, _ := host.StdinPipe()
	var out strings.Builder
	host.Stdout, host.Stderr = &out, &out
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(host.Process.Pid)), 0)
	in.Write([]byte("go\n"))
	in.Close()
	if werr := host.Wait(); err != nil || werr != nil {
		t.Fatalf("host in its own cgroup: %v, %v: %s", err, werr, out.String())
	}
	rel := strings.TrimPrefix(dir, "/sys/fs/cgroup")
	if !strings.HasPrefix(out.String(), "cgroup "+rel+"/corral-") {
		t.Errorf("sandbox cgroup %q; want one beneath %s", out.String(), rel)
	}
}

// TestUserRlimits: the rlimits that bound per-user counts are set by
// default, never above the caller's hard limit, and can be chosen.
func TestUserRlimits(t *testing.T) {
	script := `awk '/^Max (pending signals|locked memory|msgqueue size)/ {print $(NF-2), $(NF-1)}' /proc/self/limits`
	hard := func(res int, def uint64) uint64 {
		var rl unix.Rlimit
		if err := unix.Getrlimit(res, &rl); err == nil && rl.Max < def {
			return rl.Max
		}
		return def
	}
	// In the order of /proc/self/limits: locked memory, pending signals, msgqueue.
	line := func(v uint64) string { return fmt.Sprintf("%d %d\n", v, v) }
	want := line(hard(unix.RLIMIT_MEMLOCK, 1<<20)) + line(hard(unix.RLIMIT_SIGPENDING, 1024)) + line(hard(unix.RLIMIT_MSGQUEUE, 200<<10))
	if got := sh(t, sandbox.Options{}, script); got != want {
		t.Errorf("default limits (locked memory, pending signals, msgqueue): %q; want %q", got, want)
	}
	opts := sandbox.Options{Rlimits: sandbox.Rlimits{LockedMemory: 64 << 10, PendingSignals: 16, MessageQueues: 8 << 10}}
	if got, want := sh(t, opts, script), line(64<<10)+line(16)+line(8<<10); got != want {
		t.Errorf("chosen limits: %q; want %q", got, want)
	}
}
