package sandbox

// The raw ioctls of a seccomp listener (seccomp_unotify(2)).

import (
	"unsafe"

	filter "github.com/corral-dev/corral/internal/seccomp"
	"golang.org/x/sys/unix"
)

// notif is struct seccomp_notif: one refused call, held by the kernel
// until it is answered.
type notif struct {
	id    uint64
	pid   uint32 // the caller's thread id, in this process's pid namespace
	flags uint32
	data  filter.Data // struct seccomp_data
}

// notifResp is struct seccomp_notif_resp: the answer to notif id.
type notifResp struct {
	id    uint64
	val   int64
	error int32 // minus the errno
	flags uint32
}

// The structs must be the kernel's, whose sizes the ioctls' numbers hold.
var (
	_ [unix.SECCOMP_IOCTL_NOTIF_RECV>>16&0x3fff - unsafe.Sizeof(notif{})]struct{}
	_ [unsafe.Sizeof(notif{}) - unix.SECCOMP_IOCTL_NOTIF_RECV>>16&0x3fff]struct{}
	_ [unix.SECCOMP_IOCTL_NOTIF_SEND>>16&0x3fff - unsafe.Sizeof(notifResp{})]struct{}
	_ [unsafe.Sizeof(notifResp{}) - unix.SECCOMP_IOCTL_NOTIF_SEND>>16&0x3fff]struct{}
)

// notifRecv receives the next notification on listener fd into n; it
// blocks until there is one (ENOENT: it was withdrawn, its caller
// interrupted or killed, or the filter has no users left).
func notifRecv(fd uintptr, n *notif) error {
	*n = notif{} // the kernel wants it zeroed
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

// notifSend answers notification id with errno (ENOENT: the caller no
// longer waits for it).
func notifSend(fd uintptr, id uint64, errno unix.Errno) error {
	r := notifResp{id: id, error: -int32(errno)}
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// notifValid reports whether notification id still waits for its answer:
// its caller, and so its pid, is still the one it was.
func notifValid(fd uintptr, id uint64) bool {
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// notifSyncWakeUp asks the kernel to wake the caller and the listener's
// waiter on the CPU that answers or notifies, where it can
// (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6).
func notifSyncWakeUp(fd uintptr) error {
	return ioctlInt(fd, unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
}

// ioctl makes ioctl req on fd with the pointer arg, again after EINTR.
func ioctl(fd, req uintptr, arg unsafe.Pointer) error {
	for {
		// The conversion stays in the call: arg is kept alive, and in place.
		_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

// ioctlInt makes ioctl req on fd with the integer arg, again after EINTR.
func ioctlInt(fd, req, arg uintptr) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, req, arg)
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
