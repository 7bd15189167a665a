package isolate

import "syscall"

// cloneShared are the clone flags forkChild adds where vforkSyscall is
// written for the architecture: the child shares the parent's memory.
const cloneShared = syscall.CLONE_VM | syscall.CLONE_VFORK

// vforkSyscall makes a clone system call that may share the caller's
// stack (vfork_linux_amd64.s).
//
//go:noescape
func vforkSyscall(trap, a1, a2, a3 uintptr) (r1 uintptr, errno syscall.Errno)
