package pid1

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// discardPending takes, without delivering them, the signals pending on
// the calling thread, which must block them all. The launcher thread is
// within reach of a command's signals (its Landlock domain holds the
// command's), and blocks them between runs; a signal a run left pending
// there would otherwise be delivered when the thread unblocks signals for
// the next run's fork, and the init would forward it to that run's
// command (a reused sandbox's earlier run killing a later one). It takes
// signals pending for the whole init too, which only commands send (the
// host signals through the protocol).
func discardPending() {
	all := ^uint64(0) // the kernel leaves SIGKILL and SIGSTOP out
	var ts unix.Timespec
	for {
		_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(&all)), 0,
			uintptr(unsafe.Pointer(&ts)), unsafe.Sizeof(all), 0, 0)
		if errno != 0 {
			return // EAGAIN: none left (or a caller's filter refuses the call)
		}
	}
}
