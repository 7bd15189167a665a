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

func ioctl(fd, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}
