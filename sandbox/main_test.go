package sandbox_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// TestMain makes the test binary its own sandbox init, doubles as the
// helper programs the tests run inside sandboxes, and wraps the suite in a
// leak check.
func TestMain(m *testing.M) {
	sandbox.Main()
	if h := os.Getenv("CORRAL_TEST_HELPER"); h != "" {
		os.Exit(helper(h, os.Args[1:]))
	}
	before := testutil.Take()
	code := m.Run()
	cleanupInits()
	if leaks := testutil.Leaks(before); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "LEAK CHECK FAILED:\n  "+strings.Join(leaks, "\n  "))
		code = 1
	} else {
		fmt.Println("leak check: no mount, fd, process, cgroup or temp dir left behind")
	}
	os.Exit(code)
}

// helper runs one of the test's helper programs and returns its exit code.
func helper(name string, args []string) int {
	switch name {
	case "net": // inside: list interfaces, use loopback, try the host's listener at args[0]
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			fmt.Printf("iface %s %s\n", i.Name, i.Flags)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
			if err == nil {
				fmt.Println("loopback ok")
				c.Close()
			}
			ln.Close()
		}
		if _, err := net.DialTimeout("tcp", args[0], time.Second); err != nil {
			fmt.Println("host unreachable:", err)
		} else {
			fmt.Println("host REACHED")
		}
	case "egress": // inside a NetworkEgress sandbox: eth0, routes, IPv6, resolv.conf (egressHelper)
		return egressHelper(args)
	case "bind80": // inside: bind a privileged port on loopback
		if ln, err := net.Listen("tcp", "127.0.0.1:80"); err != nil {
			fmt.Println("bind:", err)
		} else {
			ln.Close()
			fmt.Println("bound")
		}
	case "unix": // inside: talk over a unix socket (unixHelper)
		return unixHelper(args)
	case "fds": // inside: list open fds
		for fd := 0; fd < 1024; fd++ {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
				target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
				fmt.Printf("%d %s\n", fd, target)
			}
		}
	case "tiocsti": // inside: try to push a character into the terminal on fd 0
		c := byte('!')
		err := unix.IoctlSetPointerInt(0, unix.TIOCSTI, int(c))
		fmt.Println("tiocsti:", err)
	case "shm": // inside: args[0] "create" makes a SysV segment with a known key, "find" looks for it
		flags := 0
		if args[0] == "create" {
			flags = unix.IPC_CREAT | 0o600
		}
		_, err := unix.SysvShmGet(0x5eed, 4096, flags)
		fmt.Println("shm:", err)
	case "mq": // inside: create, use and remove a POSIX message queue (mq_open(3) without libc)
		name, _ := unix.BytePtrFromString("corral-test")
		fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(name)), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600, 0, 0, 0)
		if e != 0 {
			fmt.Println("mq:", unix.ErrnoName(e))
			return 0
		}
		msg := []byte("hi")
		_, _, e = unix.Syscall6(unix.SYS_MQ_TIMEDSEND, fd, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0)
		unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(name)), 0, 0)
		if e != 0 {
			fmt.Println("mq send:", unix.ErrnoName(e))
			return 0
		}
		fmt.Println("mq: ok")
	case "inherited": // inside: print what the command inherited from its init
		return inheritedHelper()
	case "taint": // inside: change args[0]'s part of the init's state (see taintHelper)
		return taintHelper(args[0])
	case "flood-init": // inside: signal the init and its threads for 1.5 s (floodInit)
		return floodInit()
	case "tcp": // inside: args[0] "leave" leaves a TIME_WAIT on a loopback port; both then bind it and list /proc/net/tcp (tcpHelper)
		return tcpHelper(args[0])
	case "reopen": // inside: reopen fds by path, each arg "fd:op" (reopenHelper)
		return reopenHelper(args)
	case "host": // outside: a host program that starts a sandbox and then blocks
		signal.Ignore(syscall.SIGPIPE)
		var opts sandbox.Options
		if slices.Contains(args, "limited") {
			opts = limited(sandbox.Limits{Pids: 64})
		}
		if slices.Contains(args, "pooled") {
			opts.Pool = 3 // 3 sandboxes wait while one runs
		}
		sb := sandbox.New(opts)
		if err := sb.Prewarm(context.Background()); err != nil {
			fmt.Println("error", err)
			return 1
		}
		p, err := sb.Run(sandbox.Command("/bin/sleep", "1000"))
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		if err := sb.Prewarm(context.Background()); err != nil { // refilled
			fmt.Println("error", err)
			return 1
		}
		fmt.Println(p.Pid())
		select {}
	case "limited-run": // outside: after a line on stdin, run a limited sandbox with no CgroupParent
		bufio.NewReader(os.Stdin).ReadString('\n')
		p, err := sandbox.New(sandbox.Options{Limits: sandbox.Limits{Pids: 32}}).Run(sandbox.Command("/bin/true"))
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		res, err := p.Wait()
		if err != nil || !res.Success() {
			fmt.Println("error", res, err)
			return 1
		}
		fmt.Println("cgroup", res.Cgroup)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		return 2
	}
	return 0
}

// requireSandbox fails on CI, and skips elsewhere, when sandboxes cannot run here.
func requireSandbox(t testing.TB) {
	t.Helper()
	testutil.RequireSandbox(t, sandbox.Check().Err())
}

// probe is a bind mount of the test binary at /probe, to run helpers inside.
func probe(t testing.TB) sandbox.Mount {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return sandbox.Bind(exe, "/probe")
}

// run runs a command in a sandbox made from opts and returns its output.
func run(t testing.TB, opts sandbox.Options, cmd *sandbox.Cmd) (stdout, stderr string, res *sandbox.Result) {
	t.Helper()
	requireSandbox(t)
	var out, errb bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &errb
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := newSandbox(t, opts).RunContext(ctx, cmd)
	if err != nil {
		t.Fatalf("Run(%q): %v", cmd.Args, err)
	}
	res, err = p.Wait()
	if err != nil {
		t.Fatalf("Wait(%q): %v (stderr %q)", cmd.Args, err, errb.String())
	}
	if res.Warm != pooled {
		t.Errorf("Result.Warm = %v in a run with pooled = %v", res.Warm, pooled)
	}
	return out.String(), errb.String(), res
}

// pooled (CORRAL_TEST_POOL=1) makes every sandbox the tests build with
// newSandbox a pooled one, and every run through run a warm run: the
// suite's second pass proves that runs from the pool are as isolated and
// as limited as cold ones. CORRAL_TEST_POOL=reuse adds Options.Reuse
// where the options allow it.
var (
	pooled      = os.Getenv("CORRAL_TEST_POOL") != ""
	pooledReuse = os.Getenv("CORRAL_TEST_POOL") == "reuse"
)

// newSandbox is sandbox.New(opts); with pooled, the sandbox keeps a pool
// of one, filled before it is returned, and closed when the test ends.
func newSandbox(t testing.TB, opts sandbox.Options) *sandbox.Sandbox {
	t.Helper()
	if !pooled || opts.Pool != 0 {
		return sandbox.New(opts)
	}
	opts.Pool = 1
	// Not with an image: its root is read-only under Reuse, which the
	// image tests check on their own.
	opts.Reuse = pooledReuse && len(opts.Capabilities) == 0 && !opts.Seccomp.Disabled && opts.Network != sandbox.NetworkEgress && opts.Image == ""
	sb := sandbox.New(opts)
	t.Cleanup(func() { sb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sb.Prewarm(ctx); err != nil {
		t.Logf("Prewarm: %v (the run will report it)", err)
	}
	return sb
}

// sh runs a shell script in a default sandbox and fails the test unless it exits 0.
func sh(t testing.TB, opts sandbox.Options, script string) string {
	t.Helper()
	out, errs, res := run(t, opts, sandbox.Command("/bin/sh", "-c", script))
	if !res.Success() {
		t.Fatalf("script %q: %v\nstdout: %s\nstderr: %s", script, res, out, errs)
	}
	return out
}

// helperCmd runs the named helper of the test binary inside the sandbox.
func helperCmd(name string, args ...string) *sandbox.Cmd {
	c := sandbox.Command("/probe", args...)
	c.Env = []string{"CORRAL_TEST_HELPER=" + name}
	return c
}

// TestRunsAsIntended guards the rootless lane: under run-as-nobody the suite
// must really be unprivileged, or it would prove nothing about rootless use.
func TestRunsAsIntended(t *testing.T) {
	if os.Getenv("CORRAL_ROOTLESS") != "" && (os.Geteuid() != 65534 || os.Getegid() != 65534) {
		t.Fatalf("rootless run, but euid %d egid %d", os.Geteuid(), os.Getegid())
	}
	t.Logf("running as uid %d", os.Geteuid())
}
