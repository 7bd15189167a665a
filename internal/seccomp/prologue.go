package seccomp

import (
	"encoding/binary"
	"errors"
	"runtime"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The filter answers ENOSYS for the system call numbers its compiler does
// not know (calls newer than it, and the holes in the table), so that
// libraries fall back as they would on an older kernel. Handing libseccomp
// one rule per such number made it 656 rules on x86_64: 85% of the compile
// time (about 20 of 24 ms, paid by the first Run of every process) and a
// program of 1441 instructions instead of about 600. Instead, a few
// instructions in front of libseccomp's program return ENOSYS for them:
//
//	ld  [4]                  ; arch
//	jeq NATIVE, 0, main      ; another ABI: libseccomp's program decides (kills)
//	ld  [0]                  ; nr
//	jge abiBit, main, 0      ; x32 on x86_64: libseccomp's program decides
//	jge lo, 0, next ; jgt hi, next, enosys   ; once per hole [lo, hi]
//	main: ja +1
//	enosys: ret ERRNO(ENOSYS)
//	(libseccomp's program, unchanged)
//
// The prologue never allows anything: it can only turn a call that no rule
// names into ENOSYS where the program behind it would answer EPERM.

// abiBit bounds the numbers the prologue answers: from it up, numbers
// belong to another ABI sharing the architecture (x32's bit on x86_64) and
// are left to libseccomp's program.
const abiBit = 0x40000000

// nativeArch is the audit architecture of this build, 0 where the
// prologue is not used (the compiler then gets one rule per number).
func nativeArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	case "riscv64":
		return unix.AUDIT_ARCH_RISCV64
	}
	return 0
}

// hole is a range of unknown system call numbers, lo to hi inclusive.
type hole struct{ lo, hi uint32 }

// holes returns the ranges of numbers below abiBit that known does not
// name, given the numbers below limit that it does (all from limit up
// count as unknown).
func holes(known func(uint32) bool, limit uint32) []hole {
	var hs []hole
	for nr := uint32(0); nr < limit; nr++ {
		if known(nr) {
			continue
		}
		if n := len(hs); n > 0 && hs[n-1].hi == nr-1 {
			hs[n-1].hi = nr
		} else {
			hs = append(hs, hole{nr, nr})
		}
	}
	if n := len(hs); n > 0 && hs[n-1].hi == limit-1 {
		hs[n-1].hi = abiBit - 1
	} else {
		hs = append(hs, hole{limit, abiBit - 1})
	}
	return hs
}

// errTooManyHoles: the jumps of the prologue are 8-bit; the caller falls
// back to rules.
var errTooManyHoles = errors.New("seccomp: too many holes in the system call table for the prologue")

// prologue assembles the instructions above for arch and hs.
func prologue(arch uint32, hs []hole) ([]bpf.RawInstruction, error) {
	// main is at 4 + 2*len(hs); a jump from instruction i to t skips t-i-1.
	main := 4 + 2*len(hs)
	if main-1-1 > 255 {
		return nil, errTooManyHoles
	}
	skipTo := func(from, to int) uint8 { return uint8(to - from - 1) }
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: arch, SkipFalse: skipTo(1, main)},
		bpf.LoadAbsolute{Off: 0, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: abiBit, SkipTrue: skipTo(3, main)},
	}
	for i, h := range hs {
		at := 4 + 2*i
		next := at + 2
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: h.lo, SkipFalse: skipTo(at, next)},
			bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: h.hi, SkipTrue: skipTo(at+1, next), SkipFalse: skipTo(at+1, main+1)},
		)
	}
	prog = append(prog,
		bpf.Jump{Skip: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
	)
	return bpf.Assemble(prog)
}

// encode writes instructions as the kernel's struct sock_filter array.
func encode(prog []bpf.RawInstruction) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, ins := range prog {
		b = binary.NativeEndian.AppendUint16(b, ins.Op)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.NativeEndian.AppendUint32(b, ins.K)
	}
	return b
}

// decode reads a struct sock_filter array.
func decode(b []byte) []bpf.RawInstruction {
	prog := make([]bpf.RawInstruction, 0, len(b)/8)
	for ; len(b) >= 8; b = b[8:] {
		prog = append(prog, bpf.RawInstruction{
			Op: binary.NativeEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:]),
		})
	}
	return prog
}
