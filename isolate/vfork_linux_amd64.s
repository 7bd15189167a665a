#include "textflag.h"

// func vforkSyscall(trap, a1, a2, a3 uintptr) (r1 uintptr, errno syscall.Errno)
//
// A system call for a clone with CLONE_VM|CLONE_VFORK. The child returns
// from it first, on the same stack, and goes on to use that stack; the
// parent resumes here only once the child has called execve or exited.
// So the return address is kept in R12 (which the kernel saves and
// restores for each task), not on the stack, during the call. The
// arguments are read, and the results written, only while SP is where it
// was at entry.
TEXT ·vforkSyscall(SB),NOSPLIT|NOFRAME,$0-48
	MOVQ	trap+0(FP), AX
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	a3+24(FP), DX
	XORQ	R10, R10
	XORQ	R8, R8
	XORQ	R9, R9
	POPQ	R12
	SYSCALL
	PUSHQ	R12
	CMPQ	AX, $0xfffffffffffff001
	JCC	failed
	MOVQ	AX, r1+32(FP)
	MOVQ	$0, errno+40(FP)
	RET
failed:
	NEGQ	AX
	MOVQ	AX, errno+40(FP)
	MOVQ	$-1, r1+32(FP)
	RET
