package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// A filter that reports its refusals (sandbox.Options.Denials) is the
// compiled filter with every "return ERRNO(e)" replaced by "return
// USER_NOTIF": the kernel then holds each refused call and hands it to
// the host, through the listener the init gets when it installs the
// filter, and the host answers it. Kills, allows and logs are left as they
// are. The host learns the errno to answer by running the filter as
// compiled, the one the profile would have installed, on the call the
// notification carries (the same struct seccomp_data the filter saw), in a
// BPF interpreter: the answer is the profile's by construction, whatever
// rule, argument condition, default action or prologue (prologue.go) gave
// it, and one program is the whole mapping from calls to errnos.
//
// libseccomp's own ActNotify would need the filter compiled twice (each
// errno rule as a notify rule, and the mapping from rules to errnos kept
// beside it, where conditional rules of one call with different errnos and
// the prologue's ENOSYS make that mapping a second compiler), for the same
// program.

// Data is the kernel's struct seccomp_data: what a filter sees of a call.
type Data struct {
	Nr   int32     // the system call number, of Arch
	Arch uint32    // AUDIT_ARCH_*
	IP   uint64    // the instruction pointer at the call
	Args [6]uint64 // the arguments, raw
}

// Answers gives the errno a compiled filter answers a call with. It is
// safe for concurrent use.
type Answers struct {
	vm *bpf.VM
}

// Notify returns prog, a compiled filter (Compile), with each refusal
// (every return of SECCOMP_RET_ERRNO) made a SECCOMP_RET_USER_NOTIF, and
// the Answers of prog, which say what the refusal would have been.
func Notify(prog []byte) ([]byte, *Answers, error) {
	if len(prog) == 0 || len(prog)%8 != 0 {
		return nil, nil, errors.New("seccomp: notify: not a BPF program")
	}
	raw := decode(prog)
	ins := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		ins[i] = r.Disassemble()
		if _, unknown := ins[i].(bpf.RawInstruction); unknown {
			return nil, nil, fmt.Errorf("seccomp: notify: instruction %d (%#v) unknown to the interpreter", i, r)
		}
		switch r.Op {
		case unix.BPF_RET | unix.BPF_A:
			// A computed action: no filter Compile makes has one.
			return nil, nil, fmt.Errorf("seccomp: notify: instruction %d returns a computed action", i)
		case unix.BPF_RET | unix.BPF_K:
			if r.K&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
				raw[i].K = unix.SECCOMP_RET_USER_NOTIF
			}
		}
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return nil, nil, fmt.Errorf("seccomp: notify: %w", err)
	}
	return encode(raw), &Answers{vm: vm}, nil
}

// Errno returns the errno the filter answers d with, and true; or false
// when it does not refuse d with an errno (it allows, logs or kills it).
func (a *Answers) Errno(d Data) (syscall.Errno, bool) {
	r, err := a.vm.Run(vmData(d))
	if err != nil {
		return 0, false
	}
	return errnoOf(uint32(r))
}

// errnoOf returns the errno of the filter's return value ret, and whether
// it is an errno action. The kernel caps the errno at MAX_ERRNO.
func errnoOf(ret uint32) (syscall.Errno, bool) {
	if ret&unix.SECCOMP_RET_ACTION_FULL != unix.SECCOMP_RET_ERRNO {
		return 0, false
	}
	return syscall.Errno(min(ret&unix.SECCOMP_RET_DATA, maxErrno)), true
}

// maxErrno is the kernel's MAX_ERRNO.
const maxErrno = 4095

// vmData is d as the interpreter's loads must see it. A seccomp filter
// loads 32-bit words of struct seccomp_data in the machine's byte order;
// the interpreter (made for network packets) reads them big-endian. So
// each word is written big-endian with the value a native load would read.
func vmData(d Data) []byte {
	native := make([]byte, 64)
	binary.NativeEndian.PutUint32(native[0:], uint32(d.Nr))
	binary.NativeEndian.PutUint32(native[4:], d.Arch)
	binary.NativeEndian.PutUint64(native[8:], d.IP)
	for i, a := range d.Args {
		binary.NativeEndian.PutUint64(native[16+8*i:], a)
	}
	b := make([]byte, 64)
	for off := 0; off < 64; off += 4 {
		binary.BigEndian.PutUint32(b[off:], binary.NativeEndian.Uint32(native[off:]))
	}
	return b
}
