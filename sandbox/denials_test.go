package sandbox_test

// Options.Denials. The test binary is the program inside: run as /probe
// with CORRAL_DENY=<calls> it prints "pid N", then makes each call named
// (denyCalls) and prints "<name> <errno name or ok>".

import (
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
	n := 10000
	if os.Getenv("CORRAL_VM") != "" {
		// The VM lane's emulated CPUs make each round trip to the host
		// about 100 times dearer: 10000 outlast run's 30 s deadline there.
		n = 1000
	}
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

// TestDenialsSameOutcomes: every attempt of the seccomp tests ends alike
// with Denials and without (errno, success or the signal that killed it),
// and each refused one whose call is named is reported with its errno.
// TestSeccompBlocks shows that an attempt's def is its outcome without
// Denials; where it is not here, a run without Denials is the control.
func TestDenialsSameOutcomes(t *testing.T) {
	requireSandbox(t)
	if os.Getenv("CORRAL_VM") != "" {
		// Every seccomp attempt again, each a sandbox: minutes on the VM
		// lane's emulated CPUs. What it checks does not depend on the
		// cgroup version the VM lane exists for; the host's lanes, root
		// and uid 65534, run it.
		t.Skip("not in the VM lane (emulated CPUs: minutes); the host's root and uid-65534 lanes run it")
	}
	var log denialLog
	for _, a := range filterAttempts() {
		t.Run(a.name, func(t *testing.T) {
			a.skip(t)
			log.take()
			with := outcome(t, sandbox.Options{Denials: log.add}, a.name, a.tty)
			got := log.take()
			if with != a.def {
				if without := outcome(t, sandbox.Options{}, a.name, a.tty); with != without {
					t.Errorf("%s with Denials, %s without", with, without)
				}
			}
			if a.sys == "" || with != a.def || strings.HasPrefix(a.def, "SIG") || a.def == "ok" {
				return
			}
			i := slices.IndexFunc(got, func(d sandbox.Denial) bool { return d.Syscall == a.sys })
			if i < 0 || unix.ErrnoName(got[i].Errno) != with {
				t.Errorf("denials %+v, want %s = %s", got, a.sys, with)
			}
		})
	}
}
