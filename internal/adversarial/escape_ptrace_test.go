package adversarial

// Escape cases: tracing the sandbox's init. The default profile allows
// ptrace and process_vm_readv/writev among the command's processes
// (debuggers, sanitizers), so what keeps the init out of reach is the
// kernel's ptrace access check: the init is not dumpable and its threads
// hold capabilities the command lacks, none of which the command can get
// (CAP_SYS_PTRACE is refused in Options.Capabilities). Landlock refuses
// tracing outside the command's domain too (each run's domain is nested in
// the launcher thread's), but it may be off or missing, so every case also
// runs without Landlock,
// and with the calls the filter still refuses (kcmp, pidfd_getfd,
// process_madvise) allowed or the filter off: the kernel's check alone.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
	"golang.org/x/sys/unix"
)

var escPtraceCases = []escapeCase{
	{name: "trace-init", victim: escTraceInit, test: func(t *testing.T, name string) {
		// The rest of the verdict: kcmp, pidfd_getfd and process_madvise at
		// the init, and the control. kcmp and pidfd_getfd at a sibling are
		// refused by the filter, or allowed by the kernel where the filter
		// lets them through. The kernel answers process_madvise at the init
		// with EACCES (its memory is out of reach), the filter with EPERM.
		// A kernel built without kcmp (CONFIG_KCMP) answers ENOSYS to both.
		kcmpInit, kcmpSibling := "EPERM", "ok"
		if e := testutil.Syscall(unix.SYS_KCMP, os.Getpid(), os.Getpid(), kcmpVM, 0, 0); e == unix.ENOSYS {
			kcmpInit, kcmpSibling = "ENOSYS", "ENOSYS"
		}
		filtered := "kcmp=EPERM,getfd=EPERM,madvise=EPERM,sibling=ok+ok+EPERM+EPERM"
		allowed := fmt.Sprintf("kcmp=%s,getfd=EPERM,madvise=EACCES,sibling=ok+ok+%s+ok", kcmpInit, kcmpSibling)
		escalate := seccomp.Profile{Rules: []seccomp.Rule{{
			Syscalls: []string{"kcmp", "pidfd_getfd", "process_madvise"}, Action: seccomp.Allow}}}
		for _, c := range []struct {
			name, rest string
			opts       sandbox.Options
		}{
			{"default", filtered, sandbox.Options{}},
			{"landlock-off", filtered, sandbox.Options{Landlock: sandbox.LandlockOff}},
			{"landlock-off-calls-allowed", allowed, sandbox.Options{Landlock: sandbox.LandlockOff, Seccomp: escalate}},
			{"no-landlock-no-filter", allowed, sandbox.Options{Landlock: sandbox.LandlockOff, Seccomp: seccomp.Profile{Disabled: true}}},
		} {
			t.Run(c.name, func(t *testing.T) {
				escWant(t, escAttack(t, name, escRun{opts: c.opts}),
					"threads=several,seize=EPERM,attach=EPERM,vm=EPERM,mem=refused,"+c.rest)
			})
		}
	}},
}

// escTraceInit tries every way the kernel gates with its ptrace access
// check at each thread of the init, then, as the control, at a sibling
// process of its own. Each part of the verdict is the errno every attempt
// at the init got ("refused" for opens of its memory), or the first thread
// and answer that differed.
func escTraceInit([]string) int {
	// The init's threads are hidden (hidepid); in a new pid namespace their
	// ids are small: tgkill with signal 0 finds them (ESRCH where a tid is
	// not the init's; EPERM under Landlock's signal scope where it is).
	var tids []int
	for tid := 1; tid <= 64; tid++ {
		if unix.Tgkill(1, tid, 0) != unix.ESRCH {
			tids = append(tids, tid)
		}
	}
	threads := "several"
	if len(tids) < 2 { // the Go runtime and the launcher thread: several
		threads = fmt.Sprint(len(tids))
	}
	each := func(try func(tid int) string) string {
		for _, tid := range tids {
			if got := try(tid); got != "EPERM" {
				return fmt.Sprintf("%d:%s", tid, got)
			}
		}
		return "EPERM"
	}
	buf := make([]byte, 8)
	local := []unix.Iovec{{Base: &buf[0], Len: 8}}
	remote := []unix.RemoteIovec{{Base: 0x400000, Len: 8}}
	pidfd, err := unix.PidfdOpen(1, 0)
	if err != nil {
		return escReport("pidfd_open:" + escErr(err))
	}
	// PTRACE_SEIZE does not stop a thread; PTRACE_ATTACH, tried only once
	// every seize failed, would stop the whole init if it succeeded.
	seize := each(func(tid int) string {
		return escErrno(testutil.Syscall(unix.SYS_PTRACE, unix.PTRACE_SEIZE, tid, 0, 0))
	})
	attach := "skipped"
	if seize == "EPERM" {
		attach = each(func(tid int) string {
			return escErrno(testutil.Syscall(unix.SYS_PTRACE, unix.PTRACE_ATTACH, tid, 0, 0))
		})
	}
	parts := []string{"threads=" + threads, "seize=" + seize, "attach=" + attach,
		"vm=" + each(func(tid int) string {
			_, e1 := unix.ProcessVMReadv(tid, local, remote, 0)
			_, e2 := unix.ProcessVMWritev(tid, local, remote, 0)
			if e1 == nil || e2 == nil || e1 != e2 {
				return escErr(e1) + "+" + escErr(e2)
			}
			return escErr(e1)
		}),
		"mem=" + escInitMem(tids),
		"kcmp=" + each(func(tid int) string {
			return escErrno(testutil.Syscall(unix.SYS_KCMP, unix.Getpid(), tid, kcmpVM, 0, 0))
		}),
		"getfd=" + each(func(int) string {
			for fd := 0; fd < 8; fd++ {
				if e := testutil.Syscall(unix.SYS_PIDFD_GETFD, pidfd, fd, 0); e != unix.EPERM {
					return fmt.Sprintf("fd%d:%s", fd, escErrno(e))
				}
			}
			return "EPERM"
		}),
		"madvise=" + escErrno(testutil.Syscall(unix.SYS_PROCESS_MADVISE, pidfd,
			unsafe.Pointer(&remote[0]), 1, unix.MADV_COLD, 0)),
		"sibling=" + escTraceSibling(),
	}
	return escReport(parts...)
}

// escInitMem opens the memory file of each thread of the init, by every
// path, for reading and for writing: "refused", or the first that opened.
func escInitMem(tids []int) string {
	for _, tid := range tids {
		for _, p := range []string{fmt.Sprintf("/proc/%d/mem", tid), fmt.Sprintf("/proc/1/task/%d/mem", tid)} {
			for _, flags := range []int{unix.O_RDONLY, unix.O_RDWR} {
				if got := escOpen(p, flags); got == "OPENED" {
					return p + ":" + got
				}
			}
		}
	}
	return "refused"
}

// escTraceSibling is the control: a process the victim starts can be
// seized and read (process_vm_readv), and compared with kcmp and
// duplicated from with pidfd_getfd where the filter allows those.
func escTraceSibling() string {
	child := exec.Command("/bin/sleep", "30")
	if err := child.Start(); err != nil {
		return "start:" + escErr(err)
	}
	defer child.Wait()
	defer child.Process.Kill()
	pid := child.Process.Pid
	var addr uint64
	if f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid)); err == nil {
		line, _ := bufio.NewReader(f).ReadString('-')
		addr, _ = strconv.ParseUint(strings.TrimSuffix(line, "-"), 16, 64)
		f.Close()
	}
	buf := make([]byte, 8)
	_, err := unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &buf[0], Len: 8}}, []unix.RemoteIovec{{Base: uintptr(addr), Len: 8}}, 0)
	r := []string{escErrno(testutil.Syscall(unix.SYS_PTRACE, unix.PTRACE_SEIZE, pid, 0, 0)), escErr(err),
		escErrno(testutil.Syscall(unix.SYS_KCMP, unix.Getpid(), pid, kcmpVM, 0, 0))}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return strings.Join(append(r, "pidfd_open:"+escErr(err)), "+")
	}
	defer unix.Close(pidfd)
	return strings.Join(append(r, escErrno(testutil.Syscall(unix.SYS_PIDFD_GETFD, pidfd, 1, 0))), "+")
}

// kcmpVM is KCMP_VM of <linux/kcmp.h>: do two processes share their memory.
const kcmpVM = 1
