package sandbox_test

// Options.Denials. The test binary is the program inside: run as /probe
// with CORRAL_DENY=<calls> it prints "pid N", then makes each call named
// (denyCalls) and prints "<name> <errno name or ok>".

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
	"golang.org/x/sys/unix"
)

func init() {
	if calls := os.Getenv("CORRAL_DENY"); calls != "" {
		os.Exit(denyHelper(strings.Split(calls, ",")))
	}
}

var denyLimit unix.Rlimit

// denyCalls are the calls the helper can make: the system call, its
// arguments as Denial.Args must show them (-1: a pointer, not compared),
// and what the default profile (with denyRules) answers.
var denyCalls = map[string]struct {
	sys  string
	nr   uintptr
	args []any
	want syscall.Errno
}{
	// Refused by name.
	"keyctl": {"keyctl", unix.SYS_KEYCTL, []any{unix.KEYCTL_GET_KEYRING_ID, uint64(unix.KEY_SPEC_SESSION_KEYRING & 0xffffffffffffffff), 0}, unix.EPERM},
	"mount":  {"mount", unix.SYS_MOUNT, []any{"none", "/nonexistent", "tmpfs", unix.MS_RDONLY | unix.MS_NOSUID, ""}, unix.EPERM},
	// Refused by an argument condition of the profile.
	"socket-packet":   {"socket", unix.SYS_SOCKET, []any{unix.AF_PACKET, unix.SOCK_RAW, 0}, unix.EAFNOSUPPORT},
	"fchmodat-setuid": {"fchmodat", unix.SYS_FCHMODAT, []any{uint64(unix.AT_FDCWD & 0xffffffffffffffff), "/tmp", 0o4755}, unix.EPERM},
	"prlimit-init":    {"prlimit64", unix.SYS_PRLIMIT64, []any{1, unix.RLIMIT_NOFILE, unsafe.Pointer(&denyLimit), 0}, unix.EPERM},
	// ENOSYS: an errno rule, and a number the compiler does not know.
	"openat2": {"openat2", unix.SYS_OPENAT2, []any{uint64(unix.AT_FDCWD & 0xffffffffffffffff), "/", 0, 0}, unix.ENOSYS},
	"unknown": {"syscall_1000", 1000, []any{1, 2, 3}, unix.ENOSYS},
	// The caller's rules (denyRules): one call, two errnos by argument.
	"getpriority-7": {"getpriority", unix.SYS_GETPRIORITY, []any{7, 0}, unix.EXDEV},
	"getpriority-0": {"getpriority", unix.SYS_GETPRIORITY, []any{0, 0}, unix.EPERM},
	// Allowed: no denial.
	"getppid": {"getppid", unix.SYS_GETPPID, nil, 0},
}

// denyRules refuse getpriority(7, ...) with EXDEV; getpriority of any
// other kind then matches none of the call's rules: the default, EPERM.
var denyRules = []seccomp.Rule{{Syscalls: []string{"getpriority"}, Action: seccomp.Errno(unix.EXDEV),
	Args: []seccomp.Arg{{Index: 0, Op: seccomp.Equal, Value: 7}}}}

func denyHelper(calls []string) int {
	fmt.Printf("pid %d\n", os.Getpid())
	if calls[0] == "loop" { // loop,N,G: N keyctls over G goroutines
		n, _ := strconv.Atoi(calls[1])
		g, _ := strconv.Atoi(calls[2])
		return denyLoop(n, g)
	}
	for _, name := range calls {
		c, ok := denyCalls[name]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown call", name)
			return 2
		}
		result := "ok"
		if e := testutil.Syscall(c.nr, c.args...); e != 0 {
			result = unix.ErrnoName(e)
		}
		fmt.Println(name, result)
	}
	return 0
}

// denyLoop makes n refused calls over g goroutines, and prints how many
// failed with EPERM, as "loop <count> <ns per call>".
func denyLoop(n, g int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	eperm := 0
	t0 := time.Now()
	for i := range g {
		wg.Go(func() {
			k := 0
			for range n/g + min(1, max(0, n%g-i)) {
				if testutil.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, 0, 0) == unix.EPERM {
					k++
				}
			}
			mu.Lock()
			eperm += k
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Printf("loop %d %d\n", eperm, time.Since(t0).Nanoseconds()/int64(max(n, 1)))
	return 0
}

// denialLog collects a sandbox's Denials.
type denialLog struct {
	mu  sync.Mutex
	got []sandbox.Denial
}

func (l *denialLog) add(d sandbox.Denial) {
	l.mu.Lock()
	l.got = append(l.got, d)
	l.mu.Unlock()
}

func (l *denialLog) take() []sandbox.Denial {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

func denyCmd(calls ...string) *sandbox.Cmd {
	c := sandbox.Command("/probe")
	c.Env = []string{"CORRAL_DENY=" + strings.Join(calls, ",")}
	return c
}

// denyRun runs the helper with calls in a sandbox from opts, and returns
// its pid inside and what each call gave.
func denyRun(t *testing.T, opts sandbox.Options, calls ...string) (int, map[string]string) {
	t.Helper()
	opts.Mounts = append(opts.Mounts, probe(t))
	out, errs, res := run(t, opts, denyCmd(calls...))
	if !res.Success() {
		t.Fatalf("helper: %v\nstdout %s\nstderr %s", res, out, errs)
	}
	got := map[string]string{}
	pid := 0
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if f[0] == "pid" {
			pid, _ = strconv.Atoi(f[1])
		} else {
			got[f[0]] = f[1]
		}
	}
	if pid == 0 || len(got) != len(calls) {
		t.Fatalf("helper's output %q lacks its pid or a call's result", out)
	}
	return pid, got
}

// nativeArch is Denial.Arch for this build's calls.
func nativeArch() string {
	return map[string]string{"amd64": "x86_64", "arm64": "aarch64", "riscv64": "riscv64"}[runtime.GOARCH]
}

// TestDenials: each refused call is reported once, with its name, number,
// arguments, pid and errno, and fails inside with the errno it gets
// without Denials (the control run); the allowed call is not reported.
func TestDenials(t *testing.T) {
	requireSandbox(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range denyCalls {
			if !yield(n) {
				return
			}
		}
	})
	profile := seccomp.Profile{Rules: denyRules}
	var log denialLog
	pid, with := denyRun(t, sandbox.Options{Seccomp: profile, Denials: log.add}, names...)
	denials := log.take()
	_, without := denyRun(t, sandbox.Options{Seccomp: profile}, names...)
	for _, name := range names {
		c := denyCalls[name]
		want := "ok"
		if c.want != 0 {
			want = unix.ErrnoName(c.want)
		}
		if with[name] != want || without[name] != want {
			t.Errorf("%s: %s with Denials, %s without; want %s", name, with[name], without[name], want)
		}
	}
	var matched int
	for _, name := range names {
		c := denyCalls[name]
		var mine []sandbox.Denial
		for _, d := range denials {
			if d.Syscall == c.sys && argsMatch(d.Args, c.args) {
				mine = append(mine, d)
			}
		}
		matched += len(mine)
		if c.want == 0 {
			if len(mine) != 0 {
				t.Errorf("%s, allowed, reported: %+v", name, mine)
			}
			continue
		}
		if len(mine) != 1 {
			t.Errorf("%s: %d denials, want 1: %+v", name, len(mine), mine)
			continue
		}
		d := mine[0]
		if d.Errno != c.want || d.Pid != pid || d.Nr != int(c.nr) || d.Arch != nativeArch() || d.Time.IsZero() {
			t.Errorf("%s: %+v; want errno %v, pid %d, nr %d, arch %s", name, d, c.want, pid, c.nr, nativeArch())
		}
	}
	if matched != len(denials) {
		t.Errorf("%d denials, %d of them the helper's calls: %+v", len(denials), matched, denials)
	}
	t.Logf("%d denials, e.g. %+v", len(denials), denials[0])
}

// argsMatch reports whether got, a Denial's Args, holds want's integer
// arguments (strings and pointers are not compared).
func argsMatch(got [6]uint64, want []any) bool {
	for i, a := range want {
		var v uint64
		switch a := a.(type) {
		case int:
			v = uint64(a)
		case uint64:
			v = a
		default:
			continue
		}
		if got[i] != v {
			return false
		}
	}
	return true
}

// TestDenialsNone: programs that make no refused call report nothing
// (the control: the same sandbox reports a refused one).
func TestDenialsNone(t *testing.T) {
	requireSandbox(t)
	var log denialLog
	opts := sandbox.Options{Denials: log.add}
	sh(t, opts, `echo hi | cat | wc -c >/dev/null; ls / >/dev/null; true`)
	denyRun(t, opts, "getppid") // a Go program
	if got := log.take(); len(got) != 0 {
		t.Errorf("programs without refused calls: %d denials: %+v", len(got), got)
	}
	out := sh(t, opts, `unshare -U true 2>/dev/null; echo $?`)
	got := log.take()
	if len(got) != 1 || got[0].Syscall != "unshare" || got[0].Errno != unix.EPERM || got[0].Args[0] != unix.CLONE_NEWUSER {
		t.Errorf("unshare -U (exit %s): %+v, want one denial of unshare(CLONE_NEWUSER) = EPERM", strings.TrimSpace(out), got)
	}
}

// TestDenialsMany: many refused calls from several threads at once (the
// Go runtime's preemption signals interrupting some as they wait) are all
// answered, with EPERM, and each reported once.
func TestDenialsMany(t *testing.T) {
	requireSandbox(t)
	const n = 10000
	var count atomicCount
	opts := sandbox.Options{Denials: func(d sandbox.Denial) {
		if d.Syscall == "keyctl" && d.Errno == unix.EPERM {
			count.add()
		}
	}, Mounts: []sandbox.Mount{probe(t)}}
	out, errs, res := run(t, opts, denyCmd("loop", strconv.Itoa(n), "4"))
	if !res.Success() {
		t.Fatalf("%v: %s %s", res, out, errs)
	}
	eperm, ns := parseLoop(out)
	if eperm != n {
		t.Errorf("%d of %d calls failed with EPERM inside (output %q)", eperm, n, out)
	}
	if got := count.get(); got != n {
		t.Errorf("%d denials reported for %d refused calls", got, n)
	}
	t.Logf("%d refused calls, %d ns each inside", n, ns)
}

// parseLoop returns what denyLoop printed: how many calls failed with
// EPERM, and the time per call in ns.
func parseLoop(out string) (eperm, ns int) {
	for line := range strings.Lines(out) {
		fmt.Sscanf(line, "loop %d %d", &eperm, &ns)
	}
	return eperm, ns
}

type atomicCount struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCount) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *atomicCount) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// BenchmarkDenials is the cost of a refused call: the loop's time per
// call inside, with Denials and without. go test -run ^$ -bench Denials ./sandbox
func BenchmarkDenials(b *testing.B) {
	requireSandbox(b)
	const n = 20000
	per := func(opts sandbox.Options) float64 {
		opts.Mounts = []sandbox.Mount{probe(b)}
		out, _, res := run(b, opts, denyCmd("loop", strconv.Itoa(n), "1"))
		eperm, ns := parseLoop(out)
		if !res.Success() || eperm != n {
			b.Fatalf("%v: %q", res, out)
		}
		return float64(ns)
	}
	var with, without []float64
	for b.Loop() {
		with = append(with, per(sandbox.Options{Denials: func(sandbox.Denial) {}}))
		without = append(without, per(sandbox.Options{}))
	}
	slices.Sort(with)
	slices.Sort(without)
	b.ReportMetric(with[len(with)/2], "ns/refusal-reported")
	b.ReportMetric(without[len(without)/2], "ns/refusal-plain")
}

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
