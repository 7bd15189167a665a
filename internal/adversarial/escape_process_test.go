package adversarial

// Escape cases: processes (host pids, signals, ptrace, the init, capabilities).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

var escProcessCases = []escapeCase{
	// Host processes are invisible and out of reach of signals, ptrace and
	// process_vm_readv. The filter allows ptrace and process_vm_readv
	// (debuggers): a host pid does not exist in the sandbox's pid namespace
	// (ESRCH), and the init is not dumpable (EPERM; see escape_ptrace_test.go).
	{name: "see-host-pid", victim: func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		var st unix.Stat_t
		var pids []string
		ms, _ := filepath.Glob("/proc/[0-9]*")
		for _, m := range ms {
			if p := filepath.Base(m); p == strconv.Itoa(os.Getpid()) {
				pids = append(pids, "self")
			} else {
				pids = append(pids, p)
			}
		}
		return escReport(escErr(unix.Stat("/proc/"+args[0], &st)), escErr(unix.Kill(pid, 0)), "pids="+strings.Join(pids, "+"))
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{args: []string{strconv.Itoa(os.Getpid())}})
		escWant(t, o, "ENOENT,ESRCH,pids=self") // the victim; the init is hidden (hidepid)
	}},
	{name: "signal-host-process", victim: func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		return escReport(
			escErr(unix.Kill(pid, unix.SIGKILL)),
			escErr(unix.Tgkill(pid, pid, unix.SIGKILL)),
			escErr(unix.Kill(-pid, unix.SIGKILL)), // its process group
			escErrno(testutil.Syscall(unix.SYS_PIDFD_OPEN, pid, 0)),
		)
	}, test: func(t *testing.T, name string) {
		sleeper := escSleeper(t)
		pid := sleeper.Process.Pid
		o := escAttack(t, name, escRun{args: []string{strconv.Itoa(pid)}})
		escWant(t, o, "ESRCH,ESRCH,ESRCH,ESRCH")
		if !testutil.Alive(pid) {
			t.Errorf("the host process %d died", pid)
		}
	}},
	{name: "ptrace-host", victim: func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		return escReport(
			escErrno(testutil.Syscall(unix.SYS_PTRACE, unix.PTRACE_ATTACH, pid, 0, 0)),
			escErrno(testutil.Syscall(unix.SYS_PTRACE, unix.PTRACE_SEIZE, 1, 0, 0)),
		)
	}, test: func(t *testing.T, name string) {
		sleeper := escSleeper(t)
		o := escAttack(t, name, escRun{args: []string{strconv.Itoa(sleeper.Process.Pid)}})
		escWant(t, o, "ESRCH,EPERM")
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", sleeper.Process.Pid)); !bytes.Contains(b, []byte("TracerPid:\t0\n")) {
			t.Errorf("the host process is traced:\n%s", b)
		}
	}},
	{name: "process-vm-readv", victim: func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		buf := make([]byte, 64)
		local := []unix.Iovec{{Base: &buf[0], Len: 64}}
		remote := []unix.RemoteIovec{{Base: 0x400000, Len: 64}}
		_, e1 := unix.ProcessVMReadv(pid, local, remote, 0)
		_, e2 := unix.ProcessVMReadv(1, local, remote, 0)
		_, e3 := unix.ProcessVMWritev(1, local, remote, 0)
		return escReport(escErr(e1), escErr(e2), escErr(e3))
	}, test: func(t *testing.T, name string) {
		sleeper := escSleeper(t)
		escWant(t, escAttack(t, name, escRun{args: []string{strconv.Itoa(sleeper.Process.Pid)}}), "ESRCH,EPERM,EPERM")
	}},
	// The init (the host's binary, with the host's spec in memory) is not
	// dumpable, so /proc hides it (hidepid=ptraceable): its memory, maps,
	// environment and root are closed.
	{name: "read-init-memory", victim: func([]string) int {
		_, err := os.Readlink("/proc/1/root")
		return escReport(
			escOpen("/proc/1/mem", unix.O_RDONLY),
			escOpen("/proc/1/maps", unix.O_RDONLY),
			escOpen("/proc/1/environ", unix.O_RDONLY),
			escErr(errors.Unwrap(err)),
		)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM,EPERM,EPERM")
	}},
	// kill -9 1 from inside: Landlock's signal scope refuses every signal
	// to the init (Linux 6.12); without it, the kernel drops SIGKILL and
	// SIGSTOP sent to a namespace's init from inside and the init swallows
	// the rest. It lives on and reports the command's exit.
	{name: "kill-sandbox-init", victim: func([]string) int {
		r := []string{
			escErr(unix.Kill(1, unix.SIGKILL)),
			escErr(unix.Kill(1, unix.SIGSTOP)),
			escErr(unix.Kill(1, unix.SIGSEGV)),
			escErr(unix.Kill(1, unix.SIGABRT)),
			escErr(unix.Kill(1, unix.SIGSYS)),
		}
		time.Sleep(100 * time.Millisecond)
		// /proc hides the init (hidepid); that this report is written at
		// all shows it lived: when the init of a pid namespace dies, the
		// kernel kills every process in it.
		return escReport(append(r, "init=alive")...)
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{})
		if escSignalScoped() {
			escWant(t, o, "EPERM,EPERM,EPERM,EPERM,EPERM,init=alive")
		} else {
			escWant(t, o, "ok,ok,ok,ok,ok,init=alive")
		}
	}},
	// A flood of signals at the init, as a whole and at each of its
	// threads: its Go runtime wakes for each signal it gets, on CPU time
	// outside the command's cgroup. With Landlock's signal scope the init
	// gets none (its launcher thread, in the command's domain, blocks
	// them) and spends next to nothing; without it, its CPU time during the
	// run counts in the command's.
	{name: "signal-flood-init", victim: escFloodInit, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{opts: escLimited(sandbox.Limits{CPUTime: time.Minute}), initCPU: true})
		v := escFields(o.verdict)
		initCPU, selfCPU := o.initCPU, escMillis(t, v, "self")
		if selfCPU < 300 {
			t.Fatalf("the flood used %d ms of CPU, want >= 300 ms: it did not run; %v", selfCPU, o)
		}
		if escSignalScoped() {
			if v["kill"] != "EPERM" || initCPU > 100 {
				t.Errorf("with the signal scope: kill(1) %s, want EPERM; the init spent %d ms, want <= 100 ms", v["kill"], initCPU)
			}
			return
		}
		if o.res.Cgroup == "" {
			t.Skipf("no cgroup to account the init's %d ms to (%v)", initCPU, o.res.Degraded)
		}
		// The figures are in clock ticks (10 ms): allow 3 of them.
		if got, want := o.res.CPUTime.Milliseconds(), selfCPU+initCPU-30; got < want {
			t.Errorf("Result.CPUTime %d ms, want >= %d ms: the command's %d ms and the init's %d ms", got, want, selfCPU, initCPU)
		}
	}},
	// Signal 0 at each of the init's threads: how many the command could
	// signal. With Landlock and its signal scope, none: the command's
	// domain, of its own per run, is scoped too, so the launcher thread,
	// in the outer domain, is out of reach as the others are (signals left
	// pending there would reach the next run of a reused sandbox). The
	// control, with Landlock's filesystem rules off, leaves the command in
	// the launcher's domain: exactly that thread answers.
	{name: "signal-init-threads", victim: func([]string) int {
		reachable, threads := 0, 0
		for tid := 1; tid <= 64; tid++ {
			switch unix.Tgkill(1, tid, 0) {
			case nil:
				reachable++
				threads++
			case unix.ESRCH:
			default:
				threads++
			}
		}
		return escReport(fmt.Sprintf("threads=%d", threads), fmt.Sprintf("reachable=%d", reachable))
	}, test: func(t *testing.T, name string) {
		if !escSignalScoped() {
			t.Skip("the kernel has no Landlock signal scope (Linux 6.12, ABI 6): the init's CPU time during a run counts in the command's instead (signal-flood-init)")
		}
		for _, c := range []struct {
			name      string
			opts      sandbox.Options
			reachable string
		}{
			{"default", sandbox.Options{}, "0"},
			{"landlock-off", sandbox.Options{Landlock: sandbox.LandlockOff}, "1"},
		} {
			t.Run(c.name, func(t *testing.T) {
				o := escAttack(t, name, escRun{opts: c.opts})
				v := escFields(o.verdict)
				if n, err := strconv.Atoi(v["threads"]); err != nil || n < 2 {
					t.Fatalf("found %q of the init's threads, want >= 2: the probe did not find them; %v", v["threads"], o)
				}
				if v["reachable"] != c.reachable {
					t.Errorf("%s of the init's threads answer signal 0, want %s; %v", v["reachable"], c.reachable, o)
				}
			})
		}
	}},
	// kill(-1, SIGKILL) inside ends every process of the sandbox but the
	// caller and the init; a host process of the same user lives on.
	{name: "kill-all", victim: func([]string) int {
		child := exec.Command("/bin/sleep", "30")
		if err := child.Start(); err != nil {
			return escReport("start:" + escErr(err))
		}
		r := escErr(unix.Kill(-1, unix.SIGKILL))
		err := child.Wait()
		return escReport(r, "child="+escSafe(fmt.Sprint(err)))
	}, test: func(t *testing.T, name string) {
		sleeper := escSleeper(t)
		o := escAttack(t, name, escRun{})
		escWant(t, o, "ok,child=signal:_killed")
		if !testutil.Alive(sleeper.Process.Pid) {
			t.Errorf("the host process %d of the same user died", sleeper.Process.Pid)
		}
	}},
	// uid 0 inside has no capability and cannot get one back: not by
	// prctl or capset, nor by executing a program as uid 0 (secure bits).
	{name: "regain-capabilities-exec", victim: func(args []string) int {
		if len(args) > 0 && args[0] == "child" {
			fmt.Println("CAPS " + escCaps())
			return 0
		}
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		data := [2]unix.CapUserData{{Effective: ^uint32(0), Permitted: ^uint32(0), Inheritable: ^uint32(0)}, {Effective: ^uint32(0), Permitted: ^uint32(0), Inheritable: ^uint32(0)}}
		r := []string{
			"caps=" + escCaps(),
			escErr(unix.Prctl(unix.PR_SET_SECUREBITS, 0, 0, 0, 0)),
			escErr(unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, unix.CAP_SYS_ADMIN, 0, 0)),
			escErr(unix.Capset(&hdr, &data[0])),
		}
		c := exec.Command("/probe", "child")
		c.Env = os.Environ()
		out, err := c.Output()
		caps, _ := strings.CutPrefix(strings.TrimSpace(string(out)), "CAPS ")
		if err != nil {
			caps = escErr(err)
		}
		return escReport(append(r, "exec="+caps)...)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "caps=0,EPERM,EPERM,EPERM,exec=0")
	}},
	// chroot and pivot_root need CAP_SYS_CHROOT and CAP_SYS_ADMIN (and the
	// filter refuses pivot_root).
	{name: "chroot-pivot-root", victim: func([]string) int {
		os.Mkdir("/tmp/new", 0o755)
		return escReport(escErr(unix.Chroot("/tmp")), escErr(unix.PivotRoot("/tmp", "/tmp/new")))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM")
	}},
}

// escCaps is "0" when every capability set of the process is empty, or the
// sets that are not.
func escCaps() string {
	b, _ := os.ReadFile("/proc/self/status")
	var set []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && strings.HasPrefix(f[0], "Cap") && strings.Trim(f[1], "0") != "" {
			set = append(set, strings.TrimSuffix(f[0], ":")+"="+f[1])
		}
	}
	if len(set) == 0 {
		return "0"
	}
	return strings.Join(set, "+")
}

// escSignalScoped reports whether the kernel has Landlock's signal scope,
// which the sandbox then applies.
func escSignalScoped() bool {
	abi, _ := isolate.LandlockABI()
	return isolate.LandlockScopes(abi)&isolate.ScopeSignal != 0
}

// escFloodInit signals the init and each of its threads for 1.5 s, and
// reports kill(1)'s error and the CPU time the init and the flood spent,
// in ms.
func escFloodInit([]string) int {
	// The init's threads are hidden (hidepid); in a new pid namespace
	// their ids are small: try each, tgkill fails with ESRCH where none is.
	var killErr error
	threads := 0
	sigs := []unix.Signal{unix.SIGPWR, unix.SIGURG, unix.SIGIO}
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		for i := 0; i < 100; i++ {
			sig := sigs[i%len(sigs)]
			if err := unix.Kill(1, sig); err != nil {
				killErr = err
			}
		}
		n := 0
		for tid := 2; tid <= 64; tid++ {
			if unix.Tgkill(1, tid, sigs[tid%len(sigs)]) != unix.ESRCH {
				n++
			}
		}
		threads = n
	}
	time.Sleep(50 * time.Millisecond) // the init catches up
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	self := ru.Utime.Sec*1000 + ru.Utime.Usec/1000 + ru.Stime.Sec*1000 + ru.Stime.Usec/1000
	return escReport("kill="+escErr(killErr), fmt.Sprintf("self=%d", self), fmt.Sprintf("threads=%d", threads))
}

// escFields splits a verdict of key=value parts.
func escFields(verdict string) map[string]string {
	m := map[string]string{}
	for _, p := range strings.Split(verdict, ",") {
		if k, v, ok := strings.Cut(p, "="); ok {
			m[k] = v
		}
	}
	return m
}

// escMillis is the verdict's number under key.
func escMillis(t *testing.T, v map[string]string, key string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(v[key], 10, 64)
	if err != nil || n < 0 {
		t.Fatalf("verdict %v: no %s figure", v, key)
	}
	return n
}
