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

type errno = syscall.Errno

var attempts = []attempt{
	// Off: a fresh process may make a user namespace (unshare in a forked,
	// single-threaded child); clone3 is allowed and stopped by the sandbox's
	// user.max_user_namespaces=0 (ENOSPC), set only when the filter is on.
	{name: "unshare-newuser", def: "EPERM", off: "ok", call: func() errno { return testutil.InChild(testutil.Fork, unix.SYS_UNSHARE, unix.CLONE_NEWUSER) }},
	{name: "clone-newuser", def: "EPERM", off: "ok", call: func() errno {
		return testutil.InChild([3]uintptr{unix.SYS_CLONE, unix.CLONE_NEWUSER | uintptr(unix.SIGCHLD), 0}, unix.SYS_GETPID, 0)
	}},
	{name: "clone3-newuser", def: "ENOSPC", off: "ok", call: func() errno {
		cloneArgs[0], cloneArgs[4] = unix.CLONE_NEWUSER, uint64(unix.SIGCHLD)
		return testutil.InChild([3]uintptr{unix.SYS_CLONE3, uintptr(unsafe.Pointer(&cloneArgs)), 88}, unix.SYS_GETPID, 0)
	}},
	// setns: a uts namespace fd with CLONE_NEWNET, the wrong type.
	{name: "setns", def: "EPERM", off: "EINVAL", sys: "setns", call: func() errno {
		fd, err := unix.Open("/proc/self/ns/uts", unix.O_RDONLY, 0)
		if err != nil {
			return err.(errno)
		}
		return testutil.Syscall(unix.SYS_SETNS, fd, unix.CLONE_NEWNET)
	}},
	// The mount family. The kernel looks paths up before it checks
	// capabilities in mount and umount2, checks flags and sizes first in
	// mount_setattr and fsconfig; pivot_root, fsopen and move_mount check
	// capabilities first. open_tree without OPEN_TREE_CLONE is an O_PATH open.
	{name: "mount", def: "EPERM", off: "ENOENT", sys: "mount", call: sc(unix.SYS_MOUNT, "none", "/nonexistent", "tmpfs", 0, "")},
	{name: "umount2", def: "EPERM", off: "ENOENT", sys: "umount2", call: sc(unix.SYS_UMOUNT2, "/nonexistent", unix.MNT_DETACH)},
	{name: "pivot_root", def: "EPERM", off: "EPERM", sys: "pivot_root", call: sc(unix.SYS_PIVOT_ROOT, ".", ".")},
	{name: "open_tree", def: "EPERM", off: "ok", sys: "open_tree", call: sc(unix.SYS_OPEN_TREE, unix.AT_FDCWD, "/tmp", unix.OPEN_TREE_CLOEXEC)},
	{name: "fsopen", def: "EPERM", off: "EPERM", sys: "fsopen", call: sc(unix.SYS_FSOPEN, "tmpfs", 0)},
	{name: "fsconfig", def: "EPERM", off: "EINVAL|EBADF", sys: "fsconfig", call: sc(unix.SYS_FSCONFIG, -1, unix.FSCONFIG_CMD_CREATE, 0, 0, 0)},
	{name: "move_mount", def: "EPERM", off: "EPERM", sys: "move_mount", call: sc(unix.SYS_MOVE_MOUNT, -1, "", unix.AT_FDCWD, "/tmp", unix.MOVE_MOUNT_F_EMPTY_PATH)},
	{name: "mount_setattr", def: "EPERM", off: "EINVAL", sys: "mount_setattr", call: sc(unix.SYS_MOUNT_SETATTR, unix.AT_FDCWD, "/tmp", 0, 0, 0)}, // size 0
	{name: "keyctl", def: "EPERM", off: "ok", sys: "keyctl", call: sc(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0)},
	{name: "add_key", def: "EPERM", off: "ok", sys: "add_key", call: sc(unix.SYS_ADD_KEY, "user", "corral", "y", 1, unix.KEY_SPEC_PROCESS_KEYRING)},
	{name: "request_key", def: "EPERM", off: "ENOKEY", sys: "request_key", call: sc(unix.SYS_REQUEST_KEY, "user", "corral-none", 0, 0)},
	// bpf: a lookup in map fd -1. Before 6.5 unprivileged_bpf_disabled made
	// the kernel refuse every unprivileged bpf() with EPERM first.
	{name: "bpf", def: "EPERM", off: "EBADF|EPERM", sys: "bpf", call: sc(unix.SYS_BPF, unix.BPF_MAP_LOOKUP_ELEM, unsafe.Pointer(&bpfAttr), 32)},
	// perf: EACCES where kernel.perf_event_paranoid is 3 (Debian).
	{name: "perf_event_open", def: "EPERM", off: "ok|EACCES", sys: "perf_event_open", call: sc(unix.SYS_PERF_EVENT_OPEN, unsafe.Pointer(&perfAttr), 0, -1, -1, 0)},
	// ptrace and process_vm_readv among the command's processes (Docker's
	// profile from Linux 4.8); the calls Docker keeps for CAP_SYS_PTRACE
	// stay refused: kcmp of two of the caller's own fds, pidfd_getfd of
	// the caller's own fd 0.
	{name: "ptrace-traceme", def: "ok", off: "ok", call: func() errno { return testutil.InChild(testutil.Fork, unix.SYS_PTRACE, unix.PTRACE_TRACEME) }},
	{name: "process_vm_readv", def: "ok", off: "ok", call: sc(unix.SYS_PROCESS_VM_READV, unix.Getpid(), unsafe.Pointer(&vmIov[0]), 1, unsafe.Pointer(&vmIov[1]), 1, 0)},
	{name: "kcmp", def: "EPERM", off: "ok|ENOSYS", sys: "kcmp", call: sc(unix.SYS_KCMP, unix.Getpid(), unix.Getpid(), 0, 1, 2)}, // KCMP_FILE; ENOSYS: built without kcmp
	{name: "pidfd_getfd", def: "EPERM", off: "ok", sys: "pidfd_getfd", call: pidfdGetfd},
	{name: "userfaultfd", def: "EPERM", off: "ok", sys: "userfaultfd", call: sc(unix.SYS_USERFAULTFD, 1|unix.O_CLOEXEC)}, // UFFD_USER_MODE_ONLY
	// io_uring: EPERM where kernel.io_uring_disabled is set.
	{name: "io_uring_setup", def: "EPERM", off: "ok|EPERM", sys: "io_uring_setup", call: sc(unix.SYS_IO_URING_SETUP, 4, unsafe.Pointer(&ioParams))},
	// The kernel checks capabilities first; ENOSYS: built without kexec or modules.
	{name: "kexec_load", def: "EPERM", off: "ENOSYS|EPERM", sys: "kexec_load", call: sc(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0)},
	{name: "init_module", def: "EPERM", off: "ENOSYS|EPERM", sys: "init_module", call: sc(unix.SYS_INIT_MODULE, unsafe.Pointer(&bpfAttr), 0, "")},
	{name: "finit_module", def: "EPERM", off: "ENOSYS|EPERM", sys: "finit_module", call: sc(unix.SYS_FINIT_MODULE, -1, "", 0)},
	{name: "delete_module", def: "EPERM", off: "ENOSYS|EPERM", sys: "delete_module", call: sc(unix.SYS_DELETE_MODULE, "corral", 0)},
	{name: "reboot", def: "EPERM", off: "EPERM", sys: "reboot", call: sc(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2, unix.LINUX_REBOOT_CMD_CAD_OFF, 0)},
	{name: "swapon", def: "EPERM", off: "EINVAL|ENOSYS", sys: "swapon", call: sc(unix.SYS_SWAPON, "/nonexistent", 0x80000000)}, // bad flags
	// handle_bytes 0: EINVAL since 6.10; before, the capability check came first.
	{name: "open_by_handle_at", def: "EPERM", off: "EINVAL|EPERM", sys: "open_by_handle_at", call: sc(unix.SYS_OPEN_BY_HANDLE_AT, unix.AT_FDCWD, unsafe.Pointer(&bpfAttr), unix.O_RDONLY)},
	// TIOCSTI into the terminal the command made its controlling one: the
	// kernel allows it (EIO: dev.tty.legacy_tiocsti=0). TIOCLINUX is for
	// virtual consoles. The -high variants set bits above the 32 the kernel
	// reads; requests like that are refused, as documented.
	{name: "ioctl-tiocsti", def: "EPERM", off: "ok|EIO", tty: true, call: tiocsti(unix.TIOCSTI)},
	{name: "ioctl-tiocsti-high", def: "EPERM", off: "ok|EIO", tty: true, call: tiocsti(1<<32 | unix.TIOCSTI)},
	{name: "ioctl-tioclinux", def: "EPERM", off: "ENOTTY|EINVAL", tty: true, call: ioctl(unix.TIOCLINUX)},
	{name: "ioctl-tcgets", def: "ok", off: "ok", tty: true, call: ioctl(unix.TCGETS)},
	{name: "ioctl-tcgets-high", def: "EPERM", off: "ok", tty: true, call: ioctl(1<<32 | unix.TCGETS)},
	{name: "personality-linux32", def: "EPERM", off: "ok", call: sc(unix.SYS_PERSONALITY, 8)},
	{name: "personality-linux32-high", def: "EPERM", off: "ok", call: sc(unix.SYS_PERSONALITY, uint64(1<<32|8))},
	{name: "personality-query", def: "ok", off: "ok", call: sc(unix.SYS_PERSONALITY, 0xffffffff)},
	// ADDR_NO_RANDOMIZE (setarch -R, gdb), alone; not with PER_LINUX32.
	{name: "personality-no-randomize", def: "ok", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x0040000)},
	{name: "personality-no-randomize-linux32", def: "EPERM", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x0040008)},
	// Without the filter AF_VSOCK gives ok or EAFNOSUPPORT, as the kernel
	// has it; with a bad type the kernel says EINVAL before it looks at the
	// family. AF_PACKET needs CAP_NET_RAW.
	{name: "socket-vsock", def: "EAFNOSUPPORT", off: "ok|EAFNOSUPPORT", call: sock(unix.AF_VSOCK, unix.SOCK_STREAM)},
	{name: "socket-vsock-badtype", def: "EAFNOSUPPORT", off: "EINVAL", call: sock(unix.AF_VSOCK, 99)},
	{name: "socket-vsock-high", def: "EAFNOSUPPORT", off: "ok|EAFNOSUPPORT", call: sock(1<<32|unix.AF_VSOCK, unix.SOCK_STREAM)},
	{name: "socket-packet", def: "EAFNOSUPPORT", off: "EPERM|EAFNOSUPPORT", call: sock(unix.AF_PACKET, unix.SOCK_RAW)},
	{name: "socket-inet", def: "ok", off: "ok", call: sock(unix.AF_INET, unix.SOCK_STREAM)},
	{name: "socket-unix", def: "ok", off: "ok", call: sock(unix.AF_UNIX, unix.SOCK_STREAM)},
	// Other ABIs kill. Without the filter: x32 is ENOSYS where the kernel
	// lacks it. Where the host refuses 32-bit calls to every process
	// (int $0x80 faults: ia32_emulation=0), i386 calls cannot be made at
	// all, and the test says so.
	{name: "x32-getpid", def: "SIGSYS", off: "ENOSYS|ok", arch: "amd64", call: sc(0x40000000 | unix.SYS_GETPID)},
	{name: "i386-getpid", def: "SIGSYS", off: "ok", arch: "amd64", i386: true, call: int80},
	// Numbers unknown to the compiler and the kernel: ENOSYS, so libraries
	// fall back (internal/seccomp/prologue.go). 400 is in x86_64's hole.
	{name: "nr-500", def: "ENOSYS", off: "ENOSYS", call: sc(500)},
	{name: "nr-400-hole", def: "ENOSYS", off: "ENOSYS", arch: "amd64", call: sc(400)},
	{name: "nr-1023", def: "ENOSYS", off: "ENOSYS", call: sc(1023)},
	{name: "nr-100000", def: "ENOSYS", off: "ENOSYS", call: sc(100000)},
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
				if off := outcome(t, sandbox.Options{Seccomp: sandbox.Seccomp{Disabled: true}}, a.name, a.tty); off == "ENOSYS" {
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
		rule := sandbox.Seccomp{Rules: []sandbox.SeccompRule{{Syscalls: []string{"mseal"}, Action: sandbox.SeccompAllow}}}
		if _, err := newSandbox(t, sandbox.Options{Seccomp: rule}).Run(sandbox.Command("/bin/true")); err == nil {
			t.Skip("the filter compiler knows mseal")
		}
		got, off := outcome(t, sandbox.Options{}, "mseal", false), outcome(t, sandbox.Options{Seccomp: sandbox.Seccomp{Disabled: true}}, "mseal", false)
		t.Logf("mseal: %s; filter off: %s", got, off)
		if got != "ENOSYS" || off != "ok" && off != "ENOSYS" {
			t.Errorf("mseal, unknown to the compiler: %s, want ENOSYS; filter off: %s, want ok (ENOSYS before 6.10)", got, off)
		}
	})
}

func TestSeccompOff(t *testing.T) {
	requireSandbox(t)
	off := sandbox.Options{Seccomp: sandbox.Seccomp{Disabled: true}}
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
	type rules = []sandbox.SeccompRule
	rule := func(action sandbox.SeccompAction, names ...string) sandbox.SeccompRule {
		return sandbox.SeccompRule{Syscalls: names, Action: action}
	}
	family := func(action sandbox.SeccompAction, f uint64) sandbox.SeccompRule {
		return sandbox.SeccompRule{Syscalls: []string{"socket"}, Action: action, Args: []sandbox.SeccompArg{{Index: 0, Op: sandbox.SeccompEqual, Value: f}}}
	}
	exdev := sandbox.SeccompErrno(syscall.EXDEV)
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
		{"allow pidfd_getfd", rules{rule(sandbox.SeccompAllow, "pidfd_getfd")}, map[string]string{"pidfd_getfd": "ok"}},
		{"errno", rules{rule(exdev, "getcwd")}, map[string]string{"getcwd": "EXDEV", "getppid": "ok"}},
		{"kill", rules{rule(sandbox.SeccompKill, "getppid")}, map[string]string{"getppid": "SIGSYS", "getcwd": "ok"}},
		{"log", rules{rule(sandbox.SeccompLog, "getcwd")}, map[string]string{"getcwd": "ok"}},
		// Rules for a call replace the profile's rules for it: AF_UNIX must
		// be allowed again, and the families no rule allows are refused.
		{"args", rules{family(exdev, unix.AF_INET), family(sandbox.SeccompAllow, unix.AF_UNIX)},
			map[string]string{"socket-inet": "EXDEV", "socket-unix": "ok", "socket-inet6": "EPERM"}},
		{"errno for blocked calls", rules{rule(exdev, blocked...)}, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := sandbox.Options{Seccomp: sandbox.Seccomp{Rules: tc.rules}}
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
