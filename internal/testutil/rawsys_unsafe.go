package testutil

// Raw system calls for the tests' victims: the seccomp tests and the
// adversarial suite make calls the x/sys/unix wrappers do not have, or
// make them in ways the wrappers do not (in a forked child, with forged
// arguments). Everything unsafe of the test helpers is here.

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Syscall makes one raw system call and returns its errno (0 on success).
// Arguments may be int, uint64, uintptr, unsafe.Pointer or string; a
// string becomes a C string whose address is passed, kept alive across
// the call. Any other type panics: a test passing one is wrong.
func Syscall(nr uintptr, args ...any) syscall.Errno {
	var a [6]uintptr
	var keep []*byte
	for i, v := range args {
		switch v := v.(type) {
		case string:
			p, err := unix.BytePtrFromString(v)
			if err != nil {
				return unix.EINVAL
			}
			keep, a[i] = append(keep, p), uintptr(unsafe.Pointer(p))
		case unsafe.Pointer:
			a[i] = uintptr(v)
		case int:
			a[i] = uintptr(v)
		case uint64:
			a[i] = uintptr(v)
		case uintptr:
			a[i] = v
		default:
			panic(fmt.Sprintf("testutil.Syscall: argument %d has type %T", i, v))
		}
	}
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	runtime.KeepAlive(keep)
	return e
}

// Fork is a plain fork, as clone(SIGCHLD), for InChild.
var Fork = [3]uintptr{unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0}

// InChild forks with clone or clone3 (cl: the call and its two arguments),
// makes the call (nr, a1) in the single-threaded child and returns the
// clone's errno or the child's, passed back as its exit status. Between
// the clone and exit_group the child runs no Go code that could grow the
// stack. Arguments cl points to must not move: keep them in globals.
func InChild(cl [3]uintptr, nr, a1 uintptr) syscall.Errno {
	pid, _, e := unix.RawSyscall(cl[0], cl[1], cl[2], 0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		_, _, e := unix.RawSyscall(nr, a1, 0, 0)
		unix.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(e), 0, 0)
	}
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(int(pid), &ws, 0, nil); err != unix.EINTR {
			return syscall.Errno(ws.ExitStatus())
		}
	}
}

// QueueSignal queues sig with sigqueue's code (SI_QUEUE), which the kernel
// counts against RLIMIT_SIGPENDING: to the thread tid of process pid
// (rt_tgsigqueueinfo), or to the process when tid is 0 (rt_sigqueueinfo).
func QueueSignal(pid, tid int, sig syscall.Signal) syscall.Errno {
	info := unix.Siginfo{Signo: int32(sig), Code: -1} // SI_QUEUE
	var e syscall.Errno
	if tid == 0 {
		_, _, e = unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(sig), uintptr(unsafe.Pointer(&info)))
	} else {
		_, _, e = unix.Syscall6(unix.SYS_RT_TGSIGQUEUEINFO, uintptr(pid), uintptr(tid), uintptr(sig), uintptr(unsafe.Pointer(&info)), 0, 0)
	}
	return e
}
