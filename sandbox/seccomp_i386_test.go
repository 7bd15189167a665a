package sandbox_test

// i386 system calls on x86_64. The filter kills them (another ABI), but
// some hosts refuse 32-bit calls to every process: int $0x80 faults where
// ia32_emulation=0 (many distributions' kernels, some hypervisors). The
// tests first learn, outside any sandbox, what this host allows; where it
// refuses them, no command can make one, the property holds, and the test
// says so instead of judging the filter.

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// i386FilterEnv, set to "kill" in the environment of this test binary,
// makes it install (before anything else) a filter killing every i386
// call of the process and its children: a host without 32-bit calls,
// simulated, for TestSeccompI386HostWithout.
const i386FilterEnv = "CORRAL_TEST_REFUSE_I386"

func init() {
	if os.Getenv(i386FilterEnv) == "kill" {
		if err := refuseI386(); err != nil {
			os.Stderr.WriteString("refusing i386 calls: " + err.Error() + "\n")
			os.Exit(2)
		}
	}
}

// int80 makes getpid through the i386 entry, int $0x80, from machine code
// in an executable page (Go has no test-only assembly files): push r14;
// push r15; mov eax, 20; int 0x80; pop r15; pop r14; ret. r14 is Go's g and
// the compat entry clears r8-r15.
func int80() errno {
	code := []byte{0x41, 0x56, 0x41, 0x57, 0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0x41, 0x5f, 0x41, 0x5e, 0xc3}
	page, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return err.(errno)
	}
	copy(page, code)
	if err := unix.Mprotect(page, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		return err.(errno)
	}
	entry := unsafe.Pointer(&page[0])
	fv := &entry // a func value points to a word holding the code address
	if r := int32((*(*func() uintptr)(unsafe.Pointer(&fv)))()); r < 0 {
		return errno(-r)
	}
	return 0
}

// goCrash names the signal a Go program reported dying of: the runtime
// turns a fault in code it did not write (int $0x80 on a host without
// 32-bit calls) into exit status 2 and "[signal SIGSEGV: ...]" on stderr.
func goCrash(exitCode int, stderr string) string {
	if m := goCrashRE.FindStringSubmatch(stderr); exitCode == 2 && m != nil {
		return m[1]
	}
	return ""
}

var goCrashRE = regexp.MustCompile(`(?m)^\[signal (SIG[A-Z0-9]+)`)

// hostI386 reports whether this host lets a process make i386 calls:
// the victim's int $0x80 getpid, run outside any sandbox and with no
// filter of ours, succeeds. Otherwise it says how it failed.
var hostI386 = sync.OnceValues(func() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	c := exec.Command(exe)
	c.Env = []string{"CORRAL_VICTIM=i386-getpid"}
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	err = c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil && strings.TrimSpace(stdout.String()) == "RESULT i386-getpid ok":
		return "ok", nil
	case err == nil && strings.HasPrefix(stdout.String(), "RESULT i386-getpid errno="):
		return strings.TrimSpace(strings.TrimPrefix(stdout.String(), "RESULT i386-getpid errno=")), nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return unix.SignalName(ws.Signal()), nil
		}
		if sig := goCrash(ee.ExitCode(), stderr.String()); sig != "" {
			return sig, nil
		}
	}
	return "", errors.New("the i386 probe outside any sandbox: " + errString(err) + ", stdout " + stdout.String() + ", stderr " + stderr.String())
})

func errString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// hostRefuses: for an i386 attempt on a host that refuses 32-bit calls
// to every process, it judges got itself (the call must not have run) and
// reports true: the filter's own answer cannot be seen here. It reports
// false for every other attempt, and where the host allows such calls.
func (a attempt) hostRefuses(t *testing.T, got string) bool {
	t.Helper()
	if !a.i386 {
		return false
	}
	host, err := hostI386()
	if err != nil {
		t.Fatal(err)
	}
	if host == "ok" {
		return false
	}
	if got == "ok" {
		t.Errorf("%s: ok in the sandbox, though the host refuses 32-bit system calls outside it (%s)", a.name, host)
		return true
	}
	t.Logf("host refuses 32-bit system calls: int $0x80 outside any sandbox gives %s; in the sandbox %s. "+
		"The property holds; the filter's own answer (%s) cannot be seen on this host", host, got, a.def)
	return true
}

// refuseI386 installs, on every thread of the process, a filter killing
// the process at its first i386 call.
func refuseI386() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.AUDIT_ARCH_I386},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_KILL_PROCESS},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return e
	}
	return nil
}

// TestSeccompI386HostWithout runs the i386 cases of TestSeccompBlocks and
// TestSeccompOff in a child test process whose every i386 call is killed
// by a filter above the sandbox (a host without 32-bit calls, simulated):
// they must find that the host refuses them and pass, not fail. (On a
// host that refuses them itself, int $0x80 faults before any filter sees
// it: the child then finds SIGSEGV, as the parent does.)
func TestSeccompI386HostWithout(t *testing.T) {
	requireSandbox(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("amd64 only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe, "-test.run", "^TestSeccomp(Blocks|Off)$/^i386-getpid$", "-test.v", "-test.count=1")
	c.Env = append(os.Environ(), i386FilterEnv+"=kill")
	out, err := c.CombinedOutput()
	t.Logf("child test:\n%s", out)
	if err != nil {
		t.Fatalf("the i386 cases fail on a host without 32-bit calls: %v", err)
	}
	for _, want := range []string{"--- PASS: TestSeccompBlocks/i386-getpid", "--- PASS: TestSeccompOff/i386-getpid",
		"host refuses 32-bit system calls: int $0x80 outside any sandbox gives SIG"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the child test's output lacks %q", want)
		}
	}
}
