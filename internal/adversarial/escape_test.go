package adversarial

// Escape attempts. Each case of TestEscapes makes one attempt from inside a
// default sandbox (plus what the case needs: a bind, a listener on the
// host, limits) and asserts why it held: the errno the victim got, the
// absence of what it looked for, the signal or Result field that ended it,
// the host state afterwards.
//
// The victim is the test binary itself, bound read-only at /probe and run
// with CORRAL_ATTACK=escape-<case>; its function is registered in attacks
// by the init below. It makes the attempt and prints one line,
// "RESULT <verdict>", the parts of the verdict separated by commas (an
// errno name, "ok", or a finding). It needs no toolchain and no shell
// beyond busybox, so the cases run in the VM lane too.
//
// This file has the runner and the victims' helpers; the cases are in the
// escape_*_test.go files, one per theme, and escapeCases lists them all.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// escapeCase is one escape attempt: victim runs inside the sandbox; test
// sets the sandbox up, runs the victim (escAttack) and checks the verdict
// and the host.
type escapeCase struct {
	name   string
	victim func(args []string) int
	test   func(t *testing.T, name string)
}

// escapeCases is every escape case, theme by theme.
var escapeCases = slices.Concat(escFSCases, escEtcCases, escProcessCases, escNetCases,
	escKernelCases, escHostCases, escResourceCases, escCVECases, escSetIDCases, escPtraceCases)

func init() {
	for _, c := range escapeCases {
		if _, dup := attacks[escAttackName(c.name)]; dup {
			panic("escape case registered twice: " + c.name)
		}
		attacks[escAttackName(c.name)] = c.victim
	}
}

func escAttackName(name string) string { return "escape-" + name }

func TestEscapes(t *testing.T) {
	requireSandbox(t)
	for _, c := range escapeCases {
		t.Run(c.name, func(t *testing.T) {
			// Registered first, so it runs last, after the case's own
			// cleanups (which may still fail it). A skipped case (the host
			// lacks what it attacks) was not tried.
			t.Cleanup(func() {
				if t.Skipped() {
					return
				}
				escapesTried.Add(1)
				if !t.Failed() {
					escapesHeld.Add(1)
				}
			})
			start := time.Now()
			c.test(t, c.name)
			if d := time.Since(start); d > 3*time.Second {
				t.Logf("slow: %v", d) // the budget is < 1 s; a loaded machine may stretch it
			}
		})
	}
}

// escRun describes how a case runs its victim.
type escRun struct {
	opts  sandbox.Options
	args  []string
	shell string // when set, run /bin/sh -c shell (with args as $1...) instead of /probe; the script runs /probe
	dir   string
	stdin io.Reader
	extra []*os.File
	env   []string
	// initCPU measures, from the host, the CPU time the sandbox's init
	// spends while the command runs (escOut.initCPU).
	initCPU bool
}

// escOut is what a run of the victim gave.
type escOut struct {
	verdict        string // the text after "RESULT " on the victim's last RESULT line
	stdout, stderr string
	res            *sandbox.Result
	initCPU        int64 // ms, with escRun.initCPU
}

func (o escOut) String() string {
	return fmt.Sprintf("%v (limit %q), stdout %q, stderr %q", o.res, o.res.Limit, o.stdout, o.stderr)
}

// escTry runs the named case's victim in a sandbox made from r.opts with
// /probe bound. A Run error is returned (the set-up failed, cleanly).
func escTry(t *testing.T, name string, r escRun) (escOut, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r.opts.Mounts = append(slices.Clip(r.opts.Mounts), sandbox.Bind(exe, "/probe"))
	var c *sandbox.Cmd
	if r.shell != "" {
		c = sandbox.Command("/bin/sh", append([]string{"-c", r.shell, "sh"}, r.args...)...)
	} else {
		c = sandbox.Command("/probe", r.args...)
	}
	c.Env = append([]string{"CORRAL_ATTACK=" + escAttackName(name)}, r.env...)
	c.Dir, c.Stdin, c.ExtraFiles = r.dir, r.stdin, r.extra
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := sandbox.New(r.opts).RunContext(ctx, c)
	if err != nil {
		return escOut{}, err
	}
	var initCPU chan int64
	waited := make(chan struct{})
	if r.initCPU {
		initCPU = make(chan int64, 1)
		go func() { initCPU <- testutil.CPUUntil(p.Pid(), waited) }()
	}
	res, err := p.Wait()
	close(waited)
	if err != nil {
		t.Fatalf("Wait: %v (stdout %q, stderr %q)", err, stdout.String(), stderr.String())
	}
	o := escOut{stdout: stdout.String(), stderr: stderr.String(), res: res}
	if initCPU != nil {
		o.initCPU = <-initCPU
	}
	for _, l := range strings.Split(o.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "RESULT "); ok {
			o.verdict = v
		}
	}
	t.Logf("verdict %q; %v limit=%q", o.verdict, res, res.Limit)
	return o, nil
}

// escAttack is escTry for a run that must start.
func escAttack(t *testing.T, name string, r escRun) escOut {
	t.Helper()
	o, err := escTry(t, name, r)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return o
}

// escWant fails the case unless the victim exited 0 with one of the verdicts.
func escWant(t *testing.T, o escOut, want ...string) {
	t.Helper()
	if !slices.Contains(want, o.verdict) || !o.res.Success() {
		t.Errorf("verdict %q, want %s; %v", o.verdict, strings.Join(want, " or "), o)
	}
}

// escLimited are default options with lim and the test's cgroup parent
// (CORRAL_CGROUP_PARENT: the delegated cgroup of the rootless and VM lanes).
func escLimited(lim sandbox.Limits) sandbox.Options {
	return sandbox.Options{Limits: lim, CgroupParent: os.Getenv("CORRAL_CGROUP_PARENT")}
}

// escRootless reports whether the caller is not root: files of root's that
// uid 0 inside could write as root are then refused by permissions first.
func escRootless() bool { return os.Geteuid() != 0 }

// escByLane is want as root and wantRootless otherwise.
func escByLane(want, wantRootless string) string {
	if escRootless() {
		return wantRootless
	}
	return want
}

// escRepeat is n copies of s joined by commas.
func escRepeat(s string, n int) string {
	return strings.TrimSuffix(strings.Repeat(s+",", n), ",")
}

// escSleeper starts a host process of the test's own user that a victim
// attacks, and stops it when the case ends.
func escSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "60")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group of its own, for kill(-pid)
	if err := c.Start(); err != nil {
		t.Fatalf("host sleeper: %v", err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
	})
	return c
}

// escListener accepts connections on ln until the case ends and counts them.
func escListener(t *testing.T, ln net.Listener) *atomic.Int64 {
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return &n
}

// --- the victim's side ---

// escErr names the errno in err ("ENOENT"), "ok" for nil, or err's text.
func escErr(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return strings.ReplaceAll(err.Error(), " ", "_")
}

// escErrno is escErr for a raw errno, 0 being success.
func escErrno(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return escErr(e)
}

// escReport prints the verdict made of parts and returns exit status 0.
func escReport(parts ...string) int {
	fmt.Println("RESULT " + strings.Join(parts, ","))
	return 0
}

// escOpen opens p with flags and closes it again; it never reads or
// writes. It returns the errno's name, or "OPENED".
func escOpen(p string, flags int) string {
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return escErr(err)
	}
	unix.Close(fd)
	return "OPENED"
}

// escReadEach is a victim that reads each path in args: the errno's name,
// or READ:<the first bytes>.
func escReadEach(args []string) int {
	var r []string
	for _, p := range args {
		b, err := os.ReadFile(p)
		if err != nil {
			r = append(r, escErr(errors.Unwrap(err)))
			continue
		}
		r = append(r, "READ:"+escSafe(string(b[:min(len(b), 24)])))
	}
	return escReport(r...)
}

// escOpenEach returns a victim that opens each path in args with flags
// (and never writes).
func escOpenEach(flags int) func([]string) int {
	return func(args []string) int {
		var r []string
		for _, p := range args {
			r = append(r, escOpen(p, flags))
		}
		return escReport(r...)
	}
}

// escStatEach is a victim that lstats each path in args.
func escStatEach(args []string) int {
	var r []string
	for _, p := range args {
		var st unix.Stat_t
		r = append(r, escErr(unix.Lstat(p, &st)))
	}
	return escReport(r...)
}

// escSafe keeps s on one verdict part.
func escSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == ',' || r > '~' {
			return '_'
		}
		return r
	}, s)
}

// escCloneArgs is struct clone_args (size 88), global so that neither the
// kernel nor a forked child ever sees it move.
var escCloneArgs [11]uint64

// escFSTypes returns the filesystem types mounted in the victim's view.
func escFSTypes() []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var types []string
	for _, l := range strings.Split(string(b), "\n") {
		if _, after, ok := strings.Cut(l, " - "); ok {
			if f := strings.Fields(after); len(f) > 0 {
				types = append(types, f[0])
			}
		}
	}
	return types
}

// escFDs lists the victim's open fds other than the Go runtime's own
// (anon_inode: epoll, eventfd, pidfd), as "fd" or "fd=target".
func escFDs() []string {
	var fds []string
	for fd := 0; fd <= 1024; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			continue
		}
		target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		switch {
		case strings.HasPrefix(target, "anon_inode:"):
		case fd <= 2:
			fds = append(fds, strconv.Itoa(fd))
		default:
			fds = append(fds, strconv.Itoa(fd)+"="+escSafe(target))
		}
	}
	return fds
}
