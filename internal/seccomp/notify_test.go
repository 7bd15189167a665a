package seccomp

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// compileWith compiles the default profile with extra, the caller's rules.
func compileWith(t *testing.T, extra ...Rule) []byte {
	t.Helper()
	layers, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(append(layers, extra), []bool{false, false, true})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// TestNotifyAnswers: the errno Answers gives a refused call is the one
// the profile answers, for calls refused by name, by argument condition,
// by a caller's rule, by the default action and by the prologue; allowed
// calls and other ABIs (killed) are no refusals.
func TestNotifyAnswers(t *testing.T) {
	exdev := Rule{Names: []string{"getcwd"}, Action: Action{Kind: Errno, Errno: unix.EXDEV},
		Args: []Arg{{Index: 1, Op: Equal, Value: 7}}}
	allowCwd := Rule{Names: []string{"getcwd"}, Action: Action{Kind: Allow}, Args: []Arg{{Index: 1, Op: NotEqual, Value: 7}}}
	_, answers, err := Notify(compileWith(t, exdev, allowCwd))
	if err != nil {
		t.Fatal(err)
	}
	native := nativeArch()
	if native == 0 {
		t.Skip("no native audit architecture known for this GOARCH")
	}
	const refused, none = true, false
	for _, tc := range []struct {
		name    string
		arch    uint32
		nr      uintptr
		args    [6]uint64
		refused bool
		errno   syscall.Errno
	}{
		{"mount", native, unix.SYS_MOUNT, [6]uint64{}, refused, unix.EPERM},
		{"keyctl", native, unix.SYS_KEYCTL, [6]uint64{0, 1}, refused, unix.EPERM},
		{"socket AF_PACKET", native, unix.SYS_SOCKET, [6]uint64{unix.AF_PACKET, unix.SOCK_RAW}, refused, unix.EAFNOSUPPORT},
		{"socket AF_UNIX", native, unix.SYS_SOCKET, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}, none, 0},
		{"fchmodat setuid", native, unix.SYS_FCHMODAT, [6]uint64{3, 0, 0o4755}, refused, unix.EPERM},
		{"fchmodat plain", native, unix.SYS_FCHMODAT, [6]uint64{3, 0, 0o755}, none, 0},
		{"prlimit64 of pid 1", native, unix.SYS_PRLIMIT64, [6]uint64{1, unix.RLIMIT_NOFILE, 0x1000}, refused, unix.EPERM},
		{"prlimit64 of self", native, unix.SYS_PRLIMIT64, [6]uint64{0, unix.RLIMIT_NOFILE, 0x1000}, none, 0},
		{"openat2", native, unix.SYS_OPENAT2, [6]uint64{}, refused, unix.ENOSYS},
		{"unknown number", native, 1000, [6]uint64{}, refused, unix.ENOSYS},
		{"caller's errno rule", native, unix.SYS_GETCWD, [6]uint64{0, 7}, refused, unix.EXDEV},
		{"caller's rule, other args", native, unix.SYS_GETCWD, [6]uint64{0, 8}, none, 0},
		{"read", native, unix.SYS_READ, [6]uint64{}, none, 0},
		{"another ABI", unix.AUDIT_ARCH_I386, 21, [6]uint64{}, none, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errno, ok := answers.Errno(Data{Nr: int32(tc.nr), Arch: tc.arch, Args: tc.args})
			if ok != tc.refused || errno != tc.errno {
				t.Errorf("Errno = %v, %v; want %v, %v", errno, ok, tc.errno, tc.refused)
			}
		})
	}
}

// TestNotifySameAnswers runs the filter and its notifying version in the
// interpreter for every number of the native ABI, several argument sets
// and other ABIs: where the filter answers ERRNO the notifying one
// answers USER_NOTIF and Answers gives the filter's errno, and everywhere
// else the two answer alike (the control: allows and kills remain).
func TestNotifySameAnswers(t *testing.T) {
	arch := nativeArch()
	if arch == 0 {
		t.Skip("no native audit architecture known for this GOARCH")
	}
	prog := compileWith(t)
	notifying, answers, err := Notify(prog)
	if err != nil {
		t.Fatal(err)
	}
	if len(notifying) != len(prog) {
		t.Fatalf("notifying filter has %d instructions, the filter %d", len(notifying)/8, len(prog)/8)
	}
	ref, got := vm(t, prog), vm(t, notifying)
	run := func(v interface{ Run([]byte) (int, error) }, d Data) uint32 {
		r, err := v.Run(vmData(d))
		if err != nil {
			t.Fatal(err)
		}
		return uint32(r)
	}
	argSets := [][6]uint64{{}, {1, 2, 3, 4, 5, 6}, {^uint64(0), ^uint64(0), 0x7e020000, 0x10000, 8, 0}, {unix.AF_VSOCK, unix.CLONE_NEWUSER, 0x8, 0xffffffff, 1 << 40}}
	var data []Data
	for nr := int32(0); nr < maxSyscall+8; nr++ {
		for _, a := range argSets {
			data = append(data, Data{Nr: nr, Arch: arch, Args: a})
		}
	}
	data = append(data, Data{Nr: abiBit | 39, Arch: arch}, Data{Nr: 20, Arch: unix.AUDIT_ARCH_I386}, Data{Arch: unix.AUDIT_ARCH_ARM})
	counts := map[string]int{}
	for _, d := range data {
		want, have := run(ref, d), run(got, d)
		errno, refused := answers.Errno(d)
		wantErrno, wantRefused := errnoOf(want)
		switch {
		case refused != wantRefused || errno != wantErrno:
			t.Fatalf("%+v: Answers %v, %v; the filter %#x", d, errno, refused, want)
		case wantRefused && have != unix.SECCOMP_RET_USER_NOTIF:
			t.Fatalf("%+v: the filter refuses (%#x), the notifying one answers %#x", d, want, have)
		case !wantRefused && have != want:
			t.Fatalf("%+v: the filter answers %#x, the notifying one %#x", d, want, have)
		}
		switch {
		case refused:
			counts[errno.Error()]++
		case want&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ALLOW:
			counts["allowed"]++
		default:
			counts["other"]++
		}
	}
	t.Logf("answers: %v", counts)
	for _, k := range []string{"allowed", "other", unix.EPERM.Error(), unix.ENOSYS.Error()} {
		if counts[k] == 0 {
			t.Errorf("no call answered %q: the comparison proves little", k)
		}
	}
}

func TestNotifyRefusesNonPrograms(t *testing.T) {
	for _, prog := range [][]byte{nil, make([]byte, 7), make([]byte, 8)} { // the last: "ret A" is op 0x16, zero is ld
		if _, _, err := Notify(prog); err == nil {
			t.Errorf("Notify(%d bytes) = nil error", len(prog))
		}
	}
	retA := encode(decode([]byte{0x16, 0, 0, 0, 0, 0, 0, 0}))
	if _, _, err := Notify(retA); err == nil {
		t.Error("a program returning A was made a notifying one")
	}
}

// BenchmarkAnswersErrno is the host's cost of finding a refusal's errno.
func BenchmarkAnswersErrno(b *testing.B) {
	layers, _ := Default(nil)
	prog, err := Compile(layers, nil)
	if err != nil {
		b.Fatal(err)
	}
	_, answers, err := Notify(prog)
	if err != nil {
		b.Fatal(err)
	}
	d := Data{Nr: unix.SYS_MOUNT, Arch: nativeArch()}
	for b.Loop() {
		if _, ok := answers.Errno(d); !ok {
			b.Fatal("mount not refused")
		}
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct {
		arch      uint32
		nr        int32
		abi, call string
	}{
		{unix.AUDIT_ARCH_X86_64, 165, "x86_64", "mount"},
		{unix.AUDIT_ARCH_X86_64, 250, "x86_64", "keyctl"},
		{unix.AUDIT_ARCH_X86_64, 1000, "x86_64", "syscall_1000"},
		{unix.AUDIT_ARCH_I386, 21, "x86", "mount"},
		{unix.AUDIT_ARCH_AARCH64, 40, "aarch64", "mount"},
		{unix.AUDIT_ARCH_X86_64, abiBit | 165, "x32", "mount"},
		{0x1234, 1, "arch_0x1234", "syscall_1"},
	} {
		if abi, call := Name(tc.arch, tc.nr); abi != tc.abi || call != tc.call {
			t.Errorf("Name(%#x, %d) = %q, %q; want %q, %q", tc.arch, tc.nr, abi, call, tc.abi, tc.call)
		}
	}
}
