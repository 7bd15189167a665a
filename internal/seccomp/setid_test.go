package seccomp

import (
	"fmt"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	retAllow  = unix.SECCOMP_RET_ALLOW
	retEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	atFDCWD   = 1<<64 + unix.AT_FDCWD // as a register holds it
)

// defaultVM is the default profile (for caps) in a BPF interpreter.
func defaultVM(t *testing.T, caps []string) *bpf.VM {
	t.Helper()
	layers, err := Default(caps)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(layers, nil)
	if err != nil {
		t.Fatal(err)
	}
	return vm(t, prog)
}

// answer runs the native call name with args through v.
func answer(t *testing.T, v *bpf.VM, name string, args [6]uint64) uint32 {
	t.Helper()
	nr, err := libseccomp.GetSyscallFromName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	r, err := v.Run(seccompData(nativeArch(), uint32(nr), args))
	if err != nil {
		t.Fatal(err)
	}
	return uint32(r)
}

// TestSetIDRules: every call that can give a file a mode refuses the
// set-user-ID and set-group-ID bits, wherever the kernel would read them
// (bits above those it reads are ignored alike), and allows every other
// mode; opens refuse them only when they create a file.
func TestSetIDRules(t *testing.T) {
	if nativeArch() == 0 {
		t.Skip("no BPF interpreter set-up for this architecture")
	}
	for _, caps := range [][]string{nil, {"CAP_FSETID", "CAP_CHOWN", "CAP_FOWNER", "CAP_MKNOD", "CAP_SYS_ADMIN"}} {
		t.Run(fmt.Sprintf("caps=%v", caps), func(t *testing.T) { testSetIDRules(t, defaultVM(t, caps)) })
	}
}

func testSetIDRules(t *testing.T, v *bpf.VM) {
	modes := []struct {
		mode uint64
		want uint32
	}{
		{0o755, retAllow}, {0o1777, retAllow}, {0o644 | unix.S_IFREG, retAllow}, {0xffff &^ SetID, retAllow},
		{0o4755, retEPERM}, {0o2755, retEPERM}, {0o6755, retEPERM}, {unix.S_ISUID, retEPERM}, {unix.S_ISGID, retEPERM},
		{0o4000 | unix.S_IFREG, retEPERM}, {0xffffffff, retEPERM}, {^uint64(0), retEPERM},
		// The kernel reads 16 bits (umode_t): these are 04755 and 02755 to it.
		{1<<16 | 0o4755, retEPERM}, {1<<32 | 0o2755, retEPERM}, {0xffffffff00000000 | 0o4755, retEPERM},
		{1<<32 | 0o755, retAllow}, {0xffff0000 | 0o755, retAllow},
	}
	for _, c := range modeArgs {
		if !Known(c.name) {
			continue // below
		}
		for _, m := range modes {
			var args [6]uint64
			args[0], args[1] = 3, 0x7f0000001000 // an fd or a path, the path at dirfd
			args[c.mode] = m.mode
			if got := answer(t, v, c.name, args); got != m.want {
				t.Errorf("%s mode %#o: %#x, want %#x", c.name, m.mode, got, m.want)
			}
		}
	}
	creating := []uint64{unix.O_CREAT, unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, unix.O_TMPFILE | unix.O_RDWR,
		unix.O_TMPFILE &^ unix.O_DIRECTORY, 0xffffffff, 1<<32 | unix.O_CREAT}
	other := []uint64{0, unix.O_RDWR, unix.O_DIRECTORY, unix.O_WRONLY | unix.O_TRUNC | unix.O_APPEND, 1 << 32, 0xffffffff00000000,
		0xffffffff &^ (unix.O_CREAT | unix.O_TMPFILE&^unix.O_DIRECTORY)}
	for _, c := range openArgs {
		if !Known(c.name) {
			continue
		}
		for _, m := range modes {
			for _, f := range append(creating, other...) {
				var args [6]uint64
				args[0], args[1] = atFDCWD, 0x7f0000001000
				args[c.flags], args[c.mode] = f, m.mode
				want := m.want
				if f&(unix.O_CREAT|tmpfileBit) == 0 {
					want = retAllow // creates nothing: the kernel ignores the mode
				}
				if got := answer(t, v, c.name, args); got != want {
					t.Errorf("%s flags %#x mode %#o: %#x, want %#x", c.name, f, m.mode, got, want)
				}
			}
		}
	}
	if got := answer(t, v, "openat2", [6]uint64{atFDCWD, 0x7f0000001000, 0x7f0000002000, 24}); got != retENOSYS {
		t.Errorf("openat2: %#x, want ENOSYS", got)
	}
	// fchmodat2 (6.6): refused with the bits wherever the compiler knows
	// it, ENOSYS from the prologue where it does not (libseccomp 2.5.4),
	// never allowed with them.
	nr := uint32(unix.SYS_FCHMODAT2)
	for _, m := range modes {
		r, err := v.Run(seccompData(nativeArch(), nr, [6]uint64{atFDCWD, 0x7f0000001000, m.mode, 0}))
		if err != nil {
			t.Fatal(err)
		}
		got, want := uint32(r), m.want
		if !Known("fchmodat2") {
			want = retENOSYS
		}
		if got != want {
			t.Errorf("fchmodat2 (nr %d, known to the compiler: %v) mode %#o: %#x, want %#x", nr, Known("fchmodat2"), m.mode, got, want)
		}
	}
}

// TestPrlimitRules: prlimit64 sets only the caller's own limits (pid 0,
// as the kernel reads a pid: 32 bits), and reads anyone's.
func TestPrlimitRules(t *testing.T) {
	if nativeArch() == 0 {
		t.Skip("no BPF interpreter set-up for this architecture")
	}
	v := defaultVM(t, nil)
	const limit, old = 0x7f0000001000, 0x7f0000002000
	for _, tc := range []struct {
		pid, newLimit, oldLimit uint64
		want                    uint32
	}{
		{0, limit, 0, retAllow}, {0, limit, old, retAllow}, {0, 0, old, retAllow}, {1 << 32, limit, 0, retAllow},
		{1, 0, old, retAllow}, {12345, 0, old, retAllow}, {^uint64(0), 0, old, retAllow},
		{1, limit, 0, retEPERM}, {1, limit, old, retEPERM}, {2, limit, 0, retEPERM}, {12345, limit, old, retEPERM},
		{^uint64(0), limit, 0, retEPERM}, {0xffffffff, limit, 0, retEPERM}, {1<<32 | 1, limit, 0, retEPERM},
		{1, 1 << 32, 0, retEPERM}, // a pointer is 64 bits: not NULL
	} {
		if got := answer(t, v, "prlimit64", [6]uint64{tc.pid, unix.RLIMIT_FSIZE, tc.newLimit, tc.oldLimit}); got != tc.want {
			t.Errorf("prlimit64(%#x, FSIZE, %#x, %#x): %#x, want %#x", tc.pid, tc.newLimit, tc.oldLimit, got, tc.want)
		}
	}
}
