package isolate

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetName sets the name of the calling thread (what ps and /proc/PID/comm
// show for the main thread), truncated by the kernel to 15 bytes.
func SetName(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
}
