package sandbox_test

// Seccomp enforcement. The test binary is its own victim: run (as /probe)
// with CORRAL_VICTIM=<attempt> in its environment, the init below makes that
// one system call, prints "RESULT <attempt> ok" or "RESULT <attempt>
// errno=<NAME>" and exits 0, unless the filter kills it (Result.Signal).
// No toolchain is needed, so this works in the VM lane too.
//
// Arguments are chosen so that the kernel, without the filter, lets the call
// succeed or refuses it with another errno (a missing path, a bad flag or fd
// that it checks before capabilities). Where the kernel checks capabilities
// first and says EPERM itself, TestSeccompCustomRules shows with an Errno
// rule that the filter answers before the kernel does.

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
	"golang.org/x/sys/unix"
)

func init() {
	if name := os.Getenv("CORRAL_VICTIM"); name != "" {
		os.Exit(victim(name))
	}
}

type attempt struct {
	name string
	def  string // outcome under the default profile: "ok", an errno name or "SIGSYS"
	off  string // outcomes without the filter ("|"-separated); one equal to def: the kernel may refuse it alike
	sys  string // the call, for the Errno override in TestSeccompCustomRules
	tty  bool   // stdin is a pseudo-terminal
	arch string // only on this GOARCH
	i386 bool   // a 32-bit call: judged against what the host allows (seccomp_i386_test.go)
	call func() syscall.Errno
}

// more are the victim's attempts for the other tests.
var more = []attempt{
	{name: "socket-inet6", call: sock(unix.AF_INET6, unix.SOCK_STREAM)},
	{name: "mseal", call: sc(unix.SYS_MSEAL, 0, 0, 0)}, // an empty range: a no-op
	{name: "getcwd", call: sc(unix.SYS_GETCWD, unsafe.Pointer(&ioParams), len(ioParams))},
	{name: "getppid", call: sc(unix.SYS_GETPPID)},
	{name: "goprogram", call: goProgram},
}

// Memory arguments are globals where a forked child or the kernel may
// still use them: never moved or freed.
var (
	cloneArgs [11]uint64 // struct clone_args, size 88
	ioParams  [120]byte  // struct io_uring_params
	bpfAttr   = [4]uint64{0xffffffff}
	perfAttr  = unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_TASK_CLOCK, Size: unix.PERF_ATTR_SIZE_VER0,
		Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
	vmBuf = [2][6]byte{{}, {'s', 'e', 'c', 'r', 'e', 't'}}
	vmIov = [2]unix.Iovec{{Base: &vmBuf[0][0], Len: 6}, {Base: &vmBuf[1][0], Len: 6}} // local, remote: its own memory
)

func victim(name string) int {
	all := slices.Concat(filterAttempts(), more)
	i := slices.IndexFunc(all, func(a attempt) bool { return a.name == name })
	if i < 0 {
		fmt.Fprintln(os.Stderr, "unknown victim attempt", name)
		return 2
	}
	if e := all[i].call(); e != 0 {
		fmt.Printf("RESULT %s errno=%s\n", name, unix.ErrnoName(e))
	} else {
		fmt.Printf("RESULT %s ok\n", name)
	}
	return 0
}

// sc returns a call of sys.
func sc(nr uintptr, args ...any) func() errno {
	return func() errno { return testutil.Syscall(nr, args...) }
}

func sock(family uint64, typ int) func() errno { return sc(unix.SYS_SOCKET, family, typ, 0) }

// pidfdGetfd duplicates the caller's own fd 0 through a pidfd of itself.
func pidfdGetfd() errno {
	pidfd, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		return err.(errno)
	}
	defer unix.Close(pidfd)
	return testutil.Syscall(unix.SYS_PIDFD_GETFD, pidfd, 0, 0)
}

// ioctl makes the request on stdin.
func ioctl(req uint64) func() errno { return sc(unix.SYS_IOCTL, 0, req, unsafe.Pointer(&ioParams)) }

// tiocsti pushes "!" into stdin's input, made the controlling terminal first.
func tiocsti(req uint64) func() errno {
	return func() errno {
		unix.IoctlSetInt(0, unix.TIOCSCTTY, 0) // the command leads a session without a terminal
		c := byte('!')
		return testutil.Syscall(unix.SYS_IOCTL, 0, req, unsafe.Pointer(&c))
	}
}

// goProgram does what ordinary Go programs do: goroutines, a timer,
// os/exec and a listener on loopback. It prints what failed.
func goProgram() errno {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { time.Sleep(time.Millisecond) })
	}
	wg.Wait()
	<-time.After(10 * time.Millisecond)
	err := exec.Command("/bin/true").Run()
	if err == nil {
		var ln net.Listener
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
			defer ln.Close()
			var c net.Conn
			if c, err = net.Dial("tcp", ln.Addr().String()); err == nil {
				c.Close()
			}
		}
	}
	if err != nil {
		fmt.Println("goprogram:", err)
		return unix.EIO
	}
	return 0
}

// outcome runs the victim's attempt in a sandbox made from opts and
// returns "ok", the errno's name, or the name of the signal that killed it.
func outcome(t *testing.T, opts sandbox.Options, name string, tty bool) string {
	t.Helper()
	opts.Mounts = append(opts.Mounts, probe(t))
	c := sandbox.Command("/probe")
	c.Env = []string{"CORRAL_VICTIM=" + name}
	if tty {
		ptm, pts := testutil.OpenPTY(t)
		defer ptm.Close()
		defer pts.Close()
		c.Stdin = pts
	}
	out, errs, res := run(t, opts, c)
	if res.Signal != 0 {
		return unix.SignalName(res.Signal)
	}
	if sig := goCrash(res.ExitCode, errs); sig != "" {
		return sig
	}
	if f := strings.Fields(out); len(f) == 3 && f[0] == "RESULT" && f[1] == name && res.Success() {
		return strings.TrimPrefix(f[2], "errno=")
	}
	t.Fatalf("victim %s: %v, stdout %q, stderr %q", name, res, out, errs)
	return ""
}

func (a attempt) skip(t *testing.T) {
	if a.arch != "" && a.arch != runtime.GOARCH {
		t.Skipf("%s only", a.arch)
	}
}

// filterAttempts are the attempts whose outcomes with and without the
// filter TestSeccompBlocks and TestSeccompOff check.
func filterAttempts() []attempt { return slices.Concat(attempts, setidAttempts, prlimitAttempts) }

func TestSeccompBlocks(t *testing.T) {
	requireSandbox(t)
	vmAsRootOnly(t)
	for _, a := range filterAttempts() {
		t.Run(a.name, func(t *testing.T) {
			a.skip(t)
			got := outcome(t, sandbox.Options{}, a.name, a.tty)
			t.Logf("%s: %s", a.name, got)
			if a.hostRefuses(t, got) {
				return
			}
			if got == "ENOSYS" && a.def == "ok" {
				// The filter let it through; a kernel without the call
				// (fchmodat2 before 6.6) answers ENOSYS itself.
				if off := outcome(t, sandbox.Options{Seccomp: seccomp.Profile{Disabled: true}}, a.name, a.tty); off == "ENOSYS" {
					t.Skipf("this kernel has no such call (ENOSYS without the filter too)")
				}
			}
			if got != a.def {
				t.Errorf("default profile: %s gives %s, want %s", a.name, got, a.def)
			}
		})
	}
	// A call the kernel has (6.10+) but the filter compiler does not know
	// (libseccomp 2.5.4) gets ENOSYS, so that libraries fall back.
	t.Run("mseal", func(t *testing.T) {
		rule := seccomp.Profile{Rules: []seccomp.Rule{{Syscalls: []string{"mseal"}, Action: seccomp.Allow}}}
		if _, err := newSandbox(t, sandbox.Options{Seccomp: rule}).Run(sandbox.Command("/bin/true")); err == nil {
			t.Skip("the filter compiler knows mseal")
		}
		got, off := outcome(t, sandbox.Options{}, "mseal", false), outcome(t, sandbox.Options{Seccomp: seccomp.Profile{Disabled: true}}, "mseal", false)
		t.Logf("mseal: %s; filter off: %s", got, off)
		if got != "ENOSYS" || off != "ok" && off != "ENOSYS" {
			t.Errorf("mseal, unknown to the compiler: %s, want ENOSYS; filter off: %s, want ok (ENOSYS before 6.10)", got, off)
		}
	})
}

func TestSeccompOff(t *testing.T) {
	requireSandbox(t)
	vmAsRootOnly(t)
	off := sandbox.Options{Seccomp: seccomp.Profile{Disabled: true}}
	for _, a := range filterAttempts() {
		t.Run(a.name, func(t *testing.T) {
			a.skip(t)
			got := outcome(t, off, a.name, a.tty)
			t.Logf("%s, filter off: %s", a.name, got)
			if a.hostRefuses(t, got) {
				return
			}
			switch {
			case got == "ENOSYS" && !slices.Contains(strings.Split(a.off, "|"), got):
				// A kernel built without the call (CONFIG_USERFAULTFD,
				// CONFIG_KEYS, CONFIG_IO_URING...): TestSeccompBlocks still
				// shows the filter's answer, given before the kernel's.
				t.Skipf("this kernel has no such call (ENOSYS without the filter)")
			case !slices.Contains(strings.Split(a.off, "|"), got):
				t.Errorf("filter off: %s gives %s, want one of %s", a.name, got, a.off)
			case got == a.def && a.sys != "":
				t.Skipf("the kernel itself answers %s here; TestSeccompCustomRules shows the filter answers first", got)
			case got == a.def && a.def != "ok":
				t.Skipf("the kernel itself answers %s here: the filter's answer cannot be told apart", got)
			}
		})
	}
}

func TestSeccompCustomRules(t *testing.T) {
	requireSandbox(t)
	vmAsRootOnly(t)
	type rules = []seccomp.Rule
	rule := func(action seccomp.Action, names ...string) seccomp.Rule {
		return seccomp.Rule{Syscalls: names, Action: action}
	}
	family := func(action seccomp.Action, f uint64) seccomp.Rule {
		return seccomp.Rule{Syscalls: []string{"socket"}, Action: action, Args: []seccomp.Arg{{Index: 0, Op: seccomp.Equal, Value: f}}}
	}
	exdev := seccomp.Errno(syscall.EXDEV)
	// Every blocked call the kernel would refuse anyway answers EXDEV under
	// an Errno rule: the filter sees it before the kernel does.
	var blocked []string
	want := map[string]string{}
	for _, a := range attempts {
		if a.sys != "" {
			blocked = append(blocked, a.sys)
			want[a.name] = "EXDEV"
		}
	}
	for _, tc := range []struct {
		name  string
		rules rules
		want  map[string]string
	}{
		{"allow pidfd_getfd", rules{rule(seccomp.Allow, "pidfd_getfd")}, map[string]string{"pidfd_getfd": "ok"}},
		{"errno", rules{rule(exdev, "getcwd")}, map[string]string{"getcwd": "EXDEV", "getppid": "ok"}},
		{"kill", rules{rule(seccomp.Kill, "getppid")}, map[string]string{"getppid": "SIGSYS", "getcwd": "ok"}},
		{"log", rules{rule(seccomp.Log, "getcwd")}, map[string]string{"getcwd": "ok"}},
		// Rules for a call replace the profile's rules for it: AF_UNIX must
		// be allowed again, and the families no rule allows are refused.
		{"args", rules{family(exdev, unix.AF_INET), family(seccomp.Allow, unix.AF_UNIX)},
			map[string]string{"socket-inet": "EXDEV", "socket-unix": "ok", "socket-inet6": "EPERM"}},
		{"errno for blocked calls", rules{rule(exdev, blocked...)}, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := sandbox.Options{Seccomp: seccomp.Profile{Rules: tc.rules}}
			for _, name := range slices.Sorted(maps.Keys(tc.want)) {
				if got := outcome(t, opts, name, false); got != tc.want[name] {
					t.Errorf("%s: %s, want %s", name, got, tc.want[name])
				}
			}
		})
	}
}

// TestSeccompEverydayPrograms: ordinary programs run unchanged under the
// default profile, with nothing bound but /probe.
func TestSeccompEverydayPrograms(t *testing.T) {
	requireSandbox(t)
	gitEnv := []string{"HOME=/tmp", "GIT_AUTHOR_NAME=c", "GIT_AUTHOR_EMAIL=c@example.com",
		"GIT_COMMITTER_NAME=c", "GIT_COMMITTER_EMAIL=c@example.com"}
	for _, tc := range []struct {
		name, needs, script, want string
		env                       []string
	}{
		{"shell pipeline", "/bin/sh", `echo hi | cat | wc -c`, "3\n", nil},
		{"python", "/usr/bin/python3", `/usr/bin/python3 -c '
import os, socket, subprocess, tempfile, threading
out = []
t = threading.Thread(target=lambda: out.append(sum(range(1000)))); t.start(); t.join()
assert out == [499500], out
assert subprocess.run(["/bin/echo", "sub"], capture_output=True, text=True).stdout == "sub\n"
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.sendall(b"x"); assert a.recv(1) == b"x"
with tempfile.NamedTemporaryFile(dir="/tmp") as f: f.write(b"y"); f.flush()
if os.fork() == 0: os._exit(0)
assert os.wait()[1] == 0
print("python ok")'`, "python ok\n", nil},
		{"git", "/usr/bin/git", `git init -q /tmp/r && git -C /tmp/r commit -q --allow-empty -m x && git -C /tmp/r log --format=%s`, "x\n", gitEnv},
		{"gcc", "/usr/bin/gcc", `cd /tmp && printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >h.c && gcc -o h h.c && ./h`, "hello\n", nil},
		{"go", "", `CORRAL_VICTIM=goprogram /probe`, "RESULT goprogram ok\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.needs); tc.needs != "" && err != nil {
				t.Skipf("%s is not on this host", tc.needs)
			}
			c := sandbox.Command("/bin/sh", "-c", tc.script)
			c.Env = tc.env
			out, errs, res := run(t, sandbox.Options{Mounts: []sandbox.Mount{probe(t)}}, c)
			if !res.Success() || strings.TrimSpace(out) != strings.TrimSpace(tc.want) { // busybox wc pads
				t.Errorf("%v under the default profile: stdout %q, want %q; stderr:\n%s", res, out, tc.want, errs)
			}
		})
	}
}

// TestSeccompValidation: an invalid rule fails Run with an *OptionError
// naming the field as Options.Seccomp.Rules[i]... (seccomp.TestValidate
// covers each check of the rules).
func TestSeccompValidation(t *testing.T) {
	requireSandbox(t)
	ok := seccomp.Rule{Syscalls: []string{"getcwd"}, Action: seccomp.Log}
	bad := seccomp.Rule{Syscalls: []string{"socket"}, Args: []seccomp.Arg{{Op: 99}}}
	_, err := newSandbox(t, sandbox.Options{Seccomp: seccomp.Profile{Rules: []seccomp.Rule{ok, bad}}}).Run(sandbox.Command("/bin/true"))
	var oe *sandbox.OptionError
	if want := "Options.Seccomp.Rules[1].Args[0].Op"; !errors.As(err, &oe) || oe.Field != want || !strings.Contains(oe.Reason, "seccomp.Op") {
		t.Errorf("rule %+v: %v, want an *OptionError for %s that names seccomp.Op", bad, err, want)
	}
	if _, _, res := run(t, sandbox.Options{Seccomp: seccomp.Profile{Rules: []seccomp.Rule{ok}}}, sandbox.Command("/bin/true")); !res.Success() {
		t.Errorf("valid rule: %v", res)
	}
}

// vmAsRootOnly skips a filter test in the VM lane as a user other than
// root. The filter and its answers are the same for every user, and each
// attempt is a sandbox of its own, which the VM's emulated CPUs make
// about ten times dearer (two minutes a user): the VM lane checks the
// filter on its kernel as root, the host's lanes check it as both users.
func vmAsRootOnly(t *testing.T) {
	t.Helper()
	// TestSeccompI386HostWithout's child runs only the i386 cases: cheap.
	if os.Getenv("CORRAL_VM") != "" && os.Getuid() != 0 && os.Getenv(i386FilterEnv) == "" {
		t.Skip("the VM lane checks the filter as root only; the host lanes run it as root and as an unprivileged user")
	}
}
