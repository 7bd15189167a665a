package isolate

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// InstallFilter installs a seccomp filter, a classic BPF program (an array
// of struct sock_filter, as libseccomp exports it), on the calling thread;
// it is inherited by every process the thread starts. The thread needs
// no_new_privs (DropPrivileges sets it) or CAP_SYS_ADMIN.
func InstallFilter(bpf []byte) error {
	_, err := installFilter(bpf, 0)
	return err
}

// InstallFilterListener installs bpf as InstallFilter does, and returns
// the filter's listener: a close-on-exec fd on which a supervisor receives
// the calls the filter answers with SECCOMP_RET_USER_NOTIF, and answers
// them (seccomp_unotify(2)). A call the supervisor has received waits for
// its answer killably only (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, Linux
// 5.19; without it, on older kernels, a signal interrupts the wait and the
// call is notified again after the handler). A thread's filters can have
// one listener among them: EBUSY if one of its filters has one already.
func InstallFilterListener(bpf []byte) (int, error) {
	fd, err := installFilter(bpf, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
	if err != nil && err.(*Error).Err == unix.EINVAL {
		fd, err = installFilter(bpf, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	}
	return fd, err
}

// installFilter installs bpf with flags, and returns what seccomp(2)
// returns: the listener's fd with SECCOMP_FILTER_FLAG_NEW_LISTENER.
func installFilter(bpf []byte, flags uintptr) (int, error) {
	if len(bpf) == 0 || len(bpf)%8 != 0 || len(bpf)/8 > 0xffff {
		return -1, &Error{Step: "seccomp", Err: unix.EINVAL}
	}
	prog := unix.SockFprog{Len: uint16(len(bpf) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&bpf[0]))}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return -1, &Error{Step: "seccomp", Err: errno}
	}
	return int(r), nil
}
