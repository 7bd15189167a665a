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
	if len(bpf) == 0 || len(bpf)%8 != 0 || len(bpf)/8 > 0xffff {
		return &Error{Step: "seccomp", Err: unix.EINVAL}
	}
	prog := unix.SockFprog{Len: uint16(len(bpf) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&bpf[0]))}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return &Error{Step: "seccomp", Err: errno}
	}
	return nil
}
