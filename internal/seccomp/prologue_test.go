package seccomp

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestHoles(t *testing.T) {
	for _, tc := range []struct {
		known []uint32
		limit uint32
		want  []hole
	}{
		{nil, 4, []hole{{0, abiBit - 1}}},
		{[]uint32{0, 1, 2, 3}, 4, []hole{{4, abiBit - 1}}},
		{[]uint32{0, 3}, 4, []hole{{1, 2}, {4, abiBit - 1}}},
		{[]uint32{1, 2}, 4, []hole{{0, 0}, {3, abiBit - 1}}},
		{[]uint32{0, 2, 5}, 8, []hole{{1, 1}, {3, 4}, {6, abiBit - 1}}},
	} {
		got := holes(func(nr uint32) bool { return slices.Contains(tc.known, nr) }, tc.limit)
		if !slices.Equal(got, tc.want) {
			t.Errorf("holes(%v, %d) = %v, want %v", tc.known, tc.limit, got, tc.want)
		}
	}
}

func TestPrologueTooManyHoles(t *testing.T) {
	if _, err := prologue(unix.AUDIT_ARCH_X86_64, make([]hole, 200)); err != errTooManyHoles {
		t.Errorf("200 holes: %v, want errTooManyHoles", err)
	}
	if _, err := prologue(unix.AUDIT_ARCH_X86_64, make([]hole, 126)); err != nil {
		t.Errorf("126 holes: %v", err)
	}
}

// seccompData is struct seccomp_data as the VM's big-endian 32-bit loads
// see it: each word holds what a native load reads on a little-endian
// machine (all the architectures nativeArch names).
func seccompData(arch, nr uint32, args [6]uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[20+8*i:], uint32(a>>32))
	}
	return b
}

func vm(t *testing.T, prog []byte) *bpf.VM {
	t.Helper()
	var ins []bpf.Instruction
	for i, r := range decode(prog) {
		d := r.Disassemble()
		if _, raw := d.(bpf.RawInstruction); raw {
			t.Fatalf("instruction %d (%#v) unknown to the VM", i, r)
		}
		ins = append(ins, d)
	}
	v, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPrologueSameAnswers runs the default filter with the prologue and
// the one with a rule per unknown number in a BPF interpreter: they answer
// every call of the native ABI below maxSyscall alike, with several sets of
// arguments, and other ABIs alike; from maxSyscall up the prologue answers
// ENOSYS where the rules left the default EPERM.
func TestPrologueSameAnswers(t *testing.T) {
	arch := nativeArch()
	if arch == 0 {
		t.Skip("no prologue on this architecture: the rules are the filter")
	}
	layers, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	withRules, err := compile(layers, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	withPrologue, err := compile(layers, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("instructions: %d with rules, %d with the prologue", len(withRules)/8, len(withPrologue)/8)
	if len(withPrologue) >= len(withRules) {
		t.Errorf("the prologue did not shrink the filter")
	}
	ref, got := vm(t, withRules), vm(t, withPrologue)
	run := func(v *bpf.VM, arch, nr uint32, args [6]uint64) uint32 {
		r, err := v.Run(seccompData(arch, nr, args))
		if err != nil {
			t.Fatal(err)
		}
		return uint32(r)
	}
	argSets := [][6]uint64{{}, {1, 2, 3, 4, 5, 6}, {^uint64(0), ^uint64(0), 0x7e020000, 0x10000, 8, 0}, {unix.AF_VSOCK, unix.CLONE_NEWUSER, 0x8, 0xffffffff, 1 << 40}}
	const enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	nEnosys := 0
	for nr := uint32(0); nr < maxSyscall; nr++ {
		for _, a := range argSets {
			want, have := run(ref, arch, nr, a), run(got, arch, nr, a)
			if want != have {
				t.Fatalf("nr %d args %v: prologue answers %#x, rules %#x", nr, a, have, want)
			}
			if have == enosys {
				nEnosys++
			}
		}
	}
	if nEnosys == 0 {
		t.Error("no number below maxSyscall answered ENOSYS")
	}
	for _, nr := range []uint32{maxSyscall, 5000, abiBit - 1} {
		if have := run(got, arch, nr, [6]uint64{}); have != enosys {
			t.Errorf("nr %d: %#x, want ENOSYS", nr, have)
		}
	}
	for _, c := range []struct{ arch, nr uint32 }{
		{arch, abiBit | 39}, {arch, abiBit | 1023}, {arch, ^uint32(0)}, {arch, 0x80000000},
		{unix.AUDIT_ARCH_I386, 20}, {unix.AUDIT_ARCH_I386, 5000}, {0, 0}, {unix.AUDIT_ARCH_ARM, 1},
	} {
		t.Run(fmt.Sprintf("arch=%#x/nr=%#x", c.arch, c.nr), func(t *testing.T) {
			if want, have := run(ref, c.arch, c.nr, [6]uint64{}), run(got, c.arch, c.nr, [6]uint64{}); want != have {
				t.Errorf("prologue answers %#x, rules %#x", have, want)
			}
		})
	}
}
