//go:build !amd64

package isolate

import "syscall"

// cloneShared is empty where no vforkSyscall is written for the
// architecture: forkChild makes a full fork, whose child has memory of its
// own (slower: the parent's page tables are copied).
const cloneShared = 0

// vforkSyscall makes a clone system call that does not share memory.
//
//go:nosplit
func vforkSyscall(trap, a1, a2, a3 uintptr) (r1 uintptr, errno syscall.Errno) {
	r1, _, errno = syscall.RawSyscall(trap, a1, a2, a3)
	return r1, errno
}
