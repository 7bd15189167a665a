package seccomp

import (
	"strconv"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// arches are the audit architectures (struct seccomp_data's arch) whose
// calls Name can name, with their names as the kernel's audit says them.
var arches = map[uint32]struct {
	name string
	lib  libseccomp.ScmpArch
}{
	unix.AUDIT_ARCH_X86_64:  {"x86_64", libseccomp.ArchAMD64},
	unix.AUDIT_ARCH_I386:    {"x86", libseccomp.ArchX86},
	unix.AUDIT_ARCH_AARCH64: {"aarch64", libseccomp.ArchARM64},
	unix.AUDIT_ARCH_ARM:     {"arm", libseccomp.ArchARM},
	unix.AUDIT_ARCH_RISCV64: {"riscv64", libseccomp.ArchRISCV64},
	unix.AUDIT_ARCH_S390X:   {"s390x", libseccomp.ArchS390X},
	unix.AUDIT_ARCH_PPC64LE: {"ppc64le", libseccomp.ArchPPC64LE},
}

// Name returns the names of the ABI of a call of arch (an AUDIT_ARCH_*
// value) numbered nr, and of the call: "x86_64" and "mount". x32's calls
// share x86_64's arch and have abiBit set. Unknown architectures are
// "arch_0x..." and unknown calls "syscall_N".
func Name(arch uint32, nr int32) (abi, call string) {
	a, ok := arches[arch]
	if arch == unix.AUDIT_ARCH_X86_64 && uint32(nr)&abiBit != 0 {
		a.name, a.lib = "x32", libseccomp.ArchX32
	}
	if !ok {
		return "arch_0x" + strconv.FormatUint(uint64(arch), 16), "syscall_" + strconv.Itoa(int(nr))
	}
	call, err := libseccomp.ScmpSyscall(nr).GetNameByArch(a.lib)
	if err != nil || call == "" {
		call = "syscall_" + strconv.Itoa(int(nr))
	}
	return a.name, call
}
