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
// The cases are split over two files: this one has the runner, the
// filesystem, process and network cases; escapes2_test.go the kernel
// interfaces, namespaces, terminal, leaks, resources and the CVEs.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

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

func init() {
	for _, c := range slices.Concat(escapeCases, escapeCases2) {
		if _, dup := attacks[escAttackName(c.name)]; dup {
			panic("escape case registered twice: " + c.name)
		}
		attacks[escAttackName(c.name)] = c.victim
	}
}

func escAttackName(name string) string { return "escape-" + name }

func TestEscapes(t *testing.T) {
	requireSandbox(t)
	for _, c := range slices.Concat(escapeCases, escapeCases2) {
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
}

// escOut is what a run of the victim gave.
type escOut struct {
	verdict        string // the text after "RESULT " on the victim's last RESULT line
	stdout, stderr string
	res            *sandbox.Result
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
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v (stdout %q, stderr %q)", err, stdout.String(), stderr.String())
	}
	o := escOut{stdout: stdout.String(), stderr: stderr.String(), res: res}
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

// escSys makes one raw system call. Strings become C strings and unsafe
// pointers their addresses, kept alive across the call.
func escSys(nr uintptr, args ...any) syscall.Errno {
	var a [6]uintptr
	var keep []*byte
	for i, v := range args {
		switch v := v.(type) {
		case string:
			p, _ := unix.BytePtrFromString(v)
			keep, a[i] = append(keep, p), uintptr(unsafe.Pointer(p))
		case unsafe.Pointer:
			a[i] = uintptr(v)
		case int:
			a[i] = uintptr(v)
		case uint64:
			a[i] = uintptr(v)
		case uintptr:
			a[i] = v
		}
	}
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	runtime.KeepAlive(keep)
	return e
}

// escFork is a plain fork as clone(SIGCHLD).
var escFork = [3]uintptr{unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0}

// escCloneArgs is struct clone_args (size 88), global so that neither the
// kernel nor a forked child ever sees it move.
var escCloneArgs [11]uint64

// escInChild forks with clone or clone3 (cl: the call and its two
// arguments), makes the call (nr, a1) in the single-threaded child and
// returns the clone's errno or the child's, passed back as its exit status.
// Between the clone and exit_group the child runs no Go code that could
// grow the stack.
func escInChild(cl [3]uintptr, nr, a1 uintptr) syscall.Errno {
	pid, _, e := unix.RawSyscall(cl[0], cl[1], cl[2], 0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		_, _, e := unix.RawSyscall(nr, a1, 0, 0)
		unix.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(e), 0, 0)
	}
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(int(pid), &ws, 0, nil); err != unix.EINTR {
			return syscall.Errno(ws.ExitStatus())
		}
	}
}

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

// --- filesystem, processes and network ---

var escapeCases = []escapeCase{
	// Host files that were not mounted are not there.
	{name: "read-host-tempfile", victim: escReadEach, test: func(t *testing.T, name string) {
		dir := t.TempDir()
		secret := filepath.Join(dir, "secret")
		if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
			t.Fatal(err)
		}
		escWant(t, escAttack(t, name, escRun{args: []string{secret, dir + "/"}}), "ENOENT,ENOENT")
	}},
	{name: "read-etc-shadow", victim: escReadEach, test: func(t *testing.T, name string) {
		if _, err := os.Lstat("/etc/shadow"); err != nil {
			t.Skip("the host has no /etc/shadow")
		}
		escWant(t, escAttack(t, name, escRun{args: []string{"/etc/shadow"}}), "ENOENT")
	}},
	{name: "read-root-home", victim: escStatEach, test: func(t *testing.T, name string) {
		if _, err := os.Lstat("/root"); err != nil {
			t.Skip("the host has no /root")
		}
		escWant(t, escAttack(t, name, escRun{args: []string{"/root", "/root/.profile"}}), "ENOENT,ENOENT")
	}},
	{name: "read-test-cwd", victim: escStatEach, test: func(t *testing.T, name string) {
		wd, err := os.Getwd()
		if err != nil || wd == "/" {
			t.Fatalf("cwd %q: %v", wd, err)
		}
		entries, err := os.ReadDir(wd)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{wd}
		for _, e := range entries[:min(len(entries), 2)] {
			args = append(args, filepath.Join(wd, e.Name()))
		}
		escWant(t, escAttack(t, name, escRun{args: args}), escRepeat("ENOENT", len(args)))
	}},

	// A read-only bind refuses every kind of write (the mount says so
	// before any permission or Landlock check), and the host dir is as it was.
	{name: "write-ro-bind", victim: func([]string) int {
		const f = "/data/file"
		return escReport(
			escOpen(f, unix.O_WRONLY|unix.O_TRUNC),
			escOpen(f, unix.O_RDWR|unix.O_APPEND),
			escOpen("/data/new", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL),
			escErr(unix.Unlink(f)),
			escErr(unix.Rename(f, "/data/moved")),
			escErr(unix.Chmod(f, 0o777)),
			escErr(unix.Mkdir("/data/dir", 0o755)),
			escErr(unix.Truncate(f, 0)),
			escErr(unix.Symlink("/etc", "/data/link")),
			escErr(unix.Link(f, "/data/hard")),
			escErr(unix.Setxattr(f, "user.corral", []byte("x"), 0)),
			escErr(unix.UtimesNano(f, []unix.Timespec{{}, {}})),
		)
	}, test: func(t *testing.T, name string) {
		dir := escBoundDir(t)
		o := escAttack(t, name, escRun{opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}}})
		escWant(t, o, escRepeat("EROFS", 12))
		escCheckBoundDir(t, dir)
	}},
	// Neither remounting the bind nor clearing its read-only attribute is
	// allowed, nor cloning it as a new (writable) tree; writes still fail.
	{name: "remount-ro-bind-writable", victim: func([]string) int {
		return escReport(
			escErr(unix.Mount("", "/data", "", unix.MS_REMOUNT|unix.MS_BIND, "")),
			escErr(unix.Mount("", "/data", "", unix.MS_REMOUNT, "")),
			escErr(unix.MountSetattr(unix.AT_FDCWD, "/data", 0, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY})),
			escErrno(escSys(unix.SYS_OPEN_TREE, unix.AT_FDCWD, "/data", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)),
			escOpen("/data/file", unix.O_WRONLY),
		)
	}, test: func(t *testing.T, name string) {
		dir := escBoundDir(t)
		o := escAttack(t, name, escRun{opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}}})
		escWant(t, o, "EPERM,EPERM,EPERM,EPERM,EROFS")
		escCheckBoundDir(t, dir)
	}},
	// /proc/self/root is the sandbox's root with the same read-only mount,
	// /proc/1/root is closed (the init is not dumpable), a read-only fd
	// cannot be reopened for writing through /proc/self/fd, and ".." from
	// /proc/self/root stops at the sandbox's root.
	{name: "write-via-proc-root", victim: func(args []string) int {
		fd, err := unix.Open("/data/file", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return escReport("open:" + escErr(err))
		}
		return escReport(
			escOpen("/proc/self/root/data/file", unix.O_WRONLY),
			escOpen("/proc/1/root/data/file", unix.O_WRONLY),
			escOpen("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY),
			escOpen("/proc/self/root/../../.."+args[0], unix.O_RDONLY),
		)
	}, test: func(t *testing.T, name string) {
		dir := escBoundDir(t)
		secret := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		o := escAttack(t, name, escRun{args: []string{secret}, opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}}})
		escWant(t, o, "EROFS,EACCES,EROFS,ENOENT")
		escCheckBoundDir(t, dir)
	}},
	// Symlinks in a bound directory resolve inside the sandbox, never on
	// the host: absolute, relative past the bind, and to /etc/shadow.
	{name: "symlink-out-of-bind", victim: escReadEach, test: func(t *testing.T, name string) {
		top := t.TempDir()
		secret, shared := filepath.Join(top, "secret"), filepath.Join(top, "shared")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		os.Mkdir(shared, 0o755)
		links := map[string]string{
			"abs":    secret,
			"rel":    "../secret",
			"deep":   strings.Repeat("../", 12) + strings.TrimPrefix(secret, "/"),
			"shadow": "/etc/shadow",
		}
		var args []string
		for _, l := range []string{"abs", "rel", "deep", "shadow"} {
			if err := os.Symlink(links[l], filepath.Join(shared, l)); err != nil {
				t.Fatal(err)
			}
			args = append(args, "/data/"+l)
		}
		// The test can fail: on the host the links reach the secret.
		if b, err := os.ReadFile(filepath.Join(shared, "deep")); err != nil || string(b) != "host secret" {
			t.Fatalf("on the host the link does not reach the secret: %q, %v", b, err)
		}
		o := escAttack(t, name, escRun{args: args, opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(shared, "/data")}}})
		escWant(t, o, "ENOENT,ENOENT,ENOENT,ENOENT")
	}},
	// ".." from a bind leads to the sandbox's directories, not to the
	// bind source's parent on the host: by path, from a dir fd, and by
	// walking up with chdir.
	{name: "dotdot-out-of-bind", victim: func(args []string) int {
		secret := args[0]
		dfd, err := unix.Open("/data", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return escReport("open:" + escErr(err))
		}
		at := func(p string) string {
			fd, err := unix.Openat(dfd, p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
				return "OPENED"
			}
			return escErr(err)
		}
		r := []string{
			escOpen("/data/../secret", unix.O_RDONLY),
			escOpen("/data/"+strings.Repeat("../", 16)+strings.TrimPrefix(secret, "/"), unix.O_RDONLY),
			at("../secret"),
			at(strings.Repeat("../", 16) + strings.TrimPrefix(secret, "/")),
		}
		unix.Fchdir(dfd)
		for range 20 {
			unix.Chdir("..")
		}
		wd, _ := unix.Getwd()
		var st unix.Stat_t
		return escReport(append(r, "cwd="+wd, escErr(unix.Stat("secret", &st)))...)
	}, test: func(t *testing.T, name string) {
		top := t.TempDir()
		secret, shared := filepath.Join(top, "secret"), filepath.Join(top, "shared")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		os.Mkdir(shared, 0o755)
		o := escAttack(t, name, escRun{args: []string{secret}, opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(shared, "/data")}}})
		escWant(t, o, "ENOENT,ENOENT,ENOENT,ENOENT,cwd=/,ENOENT")
	}},
	// Race the set-up: while 50 sandboxes start binding a host path, a
	// goroutine keeps exchanging that path (atomically, renameat2
	// RENAME_EXCHANGE) between the intended directory and a symlink to
	// /etc. Each sandbox must see the intended directory or fail to start;
	// none may see the host's /etc.
	{name: "race-bind-source-symlink", victim: func([]string) int {
		var st unix.Stat_t
		switch {
		case unix.Lstat("/data/passwd", &st) == nil || unix.Lstat("/data/shadow", &st) == nil || unix.Lstat("/data/hostname", &st) == nil:
			b, _ := os.ReadFile("/data/shadow")
			return escReport("HOST-ETC", "shadow="+strconv.Itoa(len(b))+"bytes")
		case unix.Lstat("/data/marker", &st) == nil:
			return escReport("intended")
		}
		entries, _ := os.ReadDir("/data")
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return escReport("other:" + escSafe(strings.Join(names, "+")))
	}, test: escRaceBindSource},
	// A custom root whose /tmp is a symlink to ../../etc and whose /work is
	// an absolute symlink into the host: the mounts and the mountpoints
	// created for them stay inside the root; the host's /etc and the host
	// path the symlink names are untouched.
	{name: "custom-root-symlink-mountpoints", victim: func([]string) int {
		var r []string
		for _, p := range []string{"/tmp", "/work"} {
			var st unix.Statfs_t
			if err := unix.Statfs(p, &st); err != nil {
				r = append(r, p+"="+escErr(err))
			} else if st.Type == unix.TMPFS_MAGIC {
				r = append(r, p+"=tmpfs")
			} else {
				r = append(r, p+"=fs"+strconv.FormatInt(st.Type, 16))
			}
		}
		return escReport(r...)
	}, test: escCustomRootSymlinks},
	{name: "host-dev-shm", victim: escReadEach, test: func(t *testing.T, name string) {
		if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
			t.Skip("the host has no /dev/shm")
		}
		p := fmt.Sprintf("/dev/shm/corral-escape-%d", os.Getpid())
		if err := os.WriteFile(p, []byte("host shm"), 0o644); err != nil {
			t.Skipf("the host's /dev/shm is not writable: %v", err)
		}
		defer os.Remove(p)
		escWant(t, escAttack(t, name, escRun{args: []string{p}}), "ENOENT")
	}},

	// Host processes are invisible and out of reach of signals, ptrace and
	// process_vm_readv.
	{name: "see-host-pid", victim: func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		var st unix.Stat_t
		var pids []string
		ms, _ := filepath.Glob("/proc/[0-9]*")
		for _, m := range ms {
			if p := filepath.Base(m); p == strconv.Itoa(os.Getpid()) {
				pids = append(pids, "self")
			} else {
				pids = append(pids, p)
			}
		}
		return escReport(escErr(unix.Stat("/proc/"+args[0], &st)), escErr(unix.Kill(pid, 0)), "pids="+strings.Join(pids, "+"))
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{args: []string{strconv.Itoa(os.Getpid())}})
		escWant(t, o, "ENOENT,ESRCH,pids=1+self") // the init and the victim
	}},
	{name: "signal-host-process", victim: func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		return escReport(
			escErr(unix.Kill(pid, unix.SIGKILL)),
			escErr(unix.Tgkill(pid, pid, unix.SIGKILL)),
			escErr(unix.Kill(-pid, unix.SIGKILL)), // its process group
			escErrno(escSys(unix.SYS_PIDFD_OPEN, pid, 0)),
		)
	}, test: func(t *testing.T, name string) {
		sleeper := escSleeper(t)
		pid := sleeper.Process.Pid
		o := escAttack(t, name, escRun{args: []string{strconv.Itoa(pid)}})
		escWant(t, o, "ESRCH,ESRCH,ESRCH,ESRCH")
		if !testutil.Alive(pid) {
			t.Errorf("the host process %d died", pid)
		}
	}},
	{name: "ptrace-host", victim: func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		return escReport(
			escErrno(escSys(unix.SYS_PTRACE, unix.PTRACE_ATTACH, pid, 0, 0)),
			escErrno(escSys(unix.SYS_PTRACE, unix.PTRACE_SEIZE, 1, 0, 0)),
		)
	}, test: func(t *testing.T, name string) {
		sleeper := escSleeper(t)
		o := escAttack(t, name, escRun{args: []string{strconv.Itoa(sleeper.Process.Pid)}})
		escWant(t, o, "EPERM,EPERM")
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", sleeper.Process.Pid)); !bytes.Contains(b, []byte("TracerPid:\t0\n")) {
			t.Errorf("the host process is traced:\n%s", b)
		}
	}},
	{name: "process-vm-readv", victim: func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		buf := make([]byte, 64)
		local := []unix.Iovec{{Base: &buf[0], Len: 64}}
		remote := []unix.RemoteIovec{{Base: 0x400000, Len: 64}}
		_, e1 := unix.ProcessVMReadv(pid, local, remote, 0)
		_, e2 := unix.ProcessVMReadv(1, local, remote, 0)
		_, e3 := unix.ProcessVMWritev(1, local, remote, 0)
		return escReport(escErr(e1), escErr(e2), escErr(e3))
	}, test: func(t *testing.T, name string) {
		sleeper := escSleeper(t)
		escWant(t, escAttack(t, name, escRun{args: []string{strconv.Itoa(sleeper.Process.Pid)}}), "EPERM,EPERM,EPERM")
	}},
	// The init (the host's binary, with the host's spec in memory) is not
	// dumpable: its memory, maps, environment and root are closed.
	{name: "read-init-memory", victim: func([]string) int {
		_, err := os.Readlink("/proc/1/root")
		return escReport(
			escOpen("/proc/1/mem", unix.O_RDONLY),
			escOpen("/proc/1/maps", unix.O_RDONLY),
			escOpen("/proc/1/environ", unix.O_RDONLY),
			escErr(errors.Unwrap(err)),
		)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EACCES,EACCES,EACCES,EACCES")
	}},
	// kill -9 1 from inside: the kernel drops SIGKILL and SIGSTOP sent to a
	// namespace's init from inside; the init swallows the rest. It lives on
	// and reports the command's exit.
	{name: "kill-sandbox-init", victim: func([]string) int {
		r := []string{
			escErr(unix.Kill(1, unix.SIGKILL)),
			escErr(unix.Kill(1, unix.SIGSTOP)),
			escErr(unix.Kill(1, unix.SIGSEGV)),
			escErr(unix.Kill(1, unix.SIGABRT)),
			escErr(unix.Kill(1, unix.SIGSYS)),
		}
		time.Sleep(100 * time.Millisecond)
		b, err := os.ReadFile("/proc/1/stat")
		state := "gone"
		if err == nil {
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			state = f[0]
		}
		return escReport(append(r, "init="+state)...)
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{})
		escWant(t, o, "ok,ok,ok,ok,ok,init=S", "ok,ok,ok,ok,ok,init=R")
	}},
	// kill(-1, SIGKILL) inside ends every process of the sandbox but the
	// caller and the init; a host process of the same user lives on.
	{name: "kill-all", victim: func([]string) int {
		child := exec.Command("/bin/sleep", "30")
		if err := child.Start(); err != nil {
			return escReport("start:" + escErr(err))
		}
		r := escErr(unix.Kill(-1, unix.SIGKILL))
		err := child.Wait()
		return escReport(r, "child="+escSafe(fmt.Sprint(err)))
	}, test: func(t *testing.T, name string) {
		sleeper := escSleeper(t)
		o := escAttack(t, name, escRun{})
		escWant(t, o, "ok,child=signal:_killed")
		if !testutil.Alive(sleeper.Process.Pid) {
			t.Errorf("the host process %d of the same user died", sleeper.Process.Pid)
		}
	}},
	// uid 0 inside has no capability and cannot get one back: not by
	// prctl or capset, nor by executing a program as uid 0 (secure bits).
	{name: "regain-capabilities-exec", victim: func(args []string) int {
		if len(args) > 0 && args[0] == "child" {
			fmt.Println("CAPS " + escCaps())
			return 0
		}
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		data := [2]unix.CapUserData{{Effective: ^uint32(0), Permitted: ^uint32(0), Inheritable: ^uint32(0)}, {Effective: ^uint32(0), Permitted: ^uint32(0), Inheritable: ^uint32(0)}}
		r := []string{
			"caps=" + escCaps(),
			escErr(unix.Prctl(unix.PR_SET_SECUREBITS, 0, 0, 0, 0)),
			escErr(unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, unix.CAP_SYS_ADMIN, 0, 0)),
			escErr(unix.Capset(&hdr, &data[0])),
		}
		c := exec.Command("/probe", "child")
		c.Env = os.Environ()
		out, err := c.Output()
		caps, _ := strings.CutPrefix(strings.TrimSpace(string(out)), "CAPS ")
		if err != nil {
			caps = escErr(err)
		}
		return escReport(append(r, "exec="+caps)...)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "caps=0,EPERM,EPERM,EPERM,exec=0")
	}},
	// chroot and pivot_root need CAP_SYS_CHROOT and CAP_SYS_ADMIN (and the
	// filter refuses pivot_root).
	{name: "chroot-pivot-root", victim: func([]string) int {
		os.Mkdir("/tmp/new", 0o755)
		return escReport(escErr(unix.Chroot("/tmp")), escErr(unix.PivotRoot("/tmp", "/tmp/new")))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM")
	}},

	// The network: the sandbox's loopback is its own, and so are abstract
	// unix sockets; pathname sockets, D-Bus included, are not mounted.
	{name: "host-loopback-tcp", victim: escDialEach, test: func(t *testing.T, name string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		accepted := escListener(t, ln)
		escWant(t, escAttack(t, name, escRun{args: []string{"tcp", ln.Addr().String()}}), "ECONNREFUSED")
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host's loopback listener accepted %d connections", n)
		}
	}},
	{name: "host-abstract-socket", victim: escDialEach, test: func(t *testing.T, name string) {
		addr := fmt.Sprintf("@corral-escape-%d", os.Getpid())
		ln, err := net.Listen("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		accepted := escListener(t, ln)
		escWant(t, escAttack(t, name, escRun{args: []string{"unix", addr}}), "ECONNREFUSED")
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host's abstract socket accepted %d connections", n)
		}
	}},
	{name: "host-unix-socket", victim: escDialEach, test: func(t *testing.T, name string) {
		addr := filepath.Join(t.TempDir(), "sock")
		ln, err := net.Listen("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		accepted := escListener(t, ln)
		escWant(t, escAttack(t, name, escRun{args: []string{"unix", addr}}), "ENOENT")
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host's unix socket accepted %d connections", n)
		}
	}},
	{name: "host-dbus", victim: escDialEach, test: func(t *testing.T, name string) {
		const bus = "/run/dbus/system_bus_socket"
		if st, err := os.Stat(bus); err != nil || st.Mode()&os.ModeSocket == 0 {
			t.Skip("the host has no D-Bus system bus at " + bus)
		}
		escWant(t, escAttack(t, name, escRun{args: []string{"unix", bus}}), "ENOENT")
	}},
	{name: "host-interfaces", victim: func([]string) int {
		ifs, err := net.Interfaces()
		if err != nil {
			return escReport(escErr(err))
		}
		var names []string
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return escReport(strings.Join(names, "+"))
	}, test: func(t *testing.T, name string) {
		if ifs, _ := net.Interfaces(); len(ifs) < 2 {
			t.Skip("the host has no network interface but loopback")
		}
		escWant(t, escAttack(t, name, escRun{}), "lo")
	}},
	// SysV IPC is per IPC namespace: the host's segment is neither found by
	// its key nor attached by its id.
	{name: "host-sysv-shm", victim: func(args []string) int {
		key, _ := strconv.Atoi(args[0])
		id, _ := strconv.Atoi(args[1])
		_, e1 := unix.SysvShmGet(key, 0, 0)
		_, e2 := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
		return escReport(escErr(e1), escErr(e2))
	}, test: func(t *testing.T, name string) {
		key := 0x43520000 | os.Getpid()&0xffff
		id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o666)
		if err != nil {
			t.Skipf("the host has no SysV shared memory: %v", err)
		}
		defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		escWant(t, escAttack(t, name, escRun{args: []string{strconv.Itoa(key), strconv.Itoa(id)}}), "ENOENT,EINVAL")
	}},
	// The kernel keyrings are shared by a user's processes; the filter
	// refuses every keyring call, so a host key cannot be read by its id.
	{name: "host-keyring", victim: func(args []string) int {
		id, _ := strconv.Atoi(args[0])
		buf := make([]byte, 64)
		_, e1 := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		_, e2 := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
		_, e3 := unix.RequestKey("user", args[1], "", unix.KEY_SPEC_PROCESS_KEYRING)
		return escReport(escErr(e1), escErr(e2), escErr(e3))
	}, test: func(t *testing.T, name string) {
		desc := fmt.Sprintf("corral-escape-%d", os.Getpid())
		id, err := unix.AddKey("user", desc, []byte("host secret"), unix.KEY_SPEC_PROCESS_KEYRING)
		if err != nil {
			t.Skipf("the host has no kernel keyrings: %v", err)
		}
		defer unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		escWant(t, escAttack(t, name, escRun{args: []string{strconv.Itoa(id), desc}}), "EPERM,EPERM,EPERM")
	}},
}

// escDialEach is a victim that dials args[0] (a network) at each address after it.
func escDialEach(args []string) int {
	var r []string
	for _, a := range args[1:] {
		c, err := net.DialTimeout(args[0], a, time.Second)
		if err == nil {
			c.Close()
			r = append(r, "CONNECTED")
			continue
		}
		r = append(r, escErr(err))
	}
	return escReport(r...)
}

// escCaps is "0" when every capability set of the process is empty, or the
// sets that are not.
func escCaps() string {
	b, _ := os.ReadFile("/proc/self/status")
	var set []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && strings.HasPrefix(f[0], "Cap") && strings.Trim(f[1], "0") != "" {
			set = append(set, strings.TrimSuffix(f[0], ":")+"="+f[1])
		}
	}
	if len(set) == 0 {
		return "0"
	}
	return strings.Join(set, "+")
}

// escBoundDir makes a host directory holding "file" to bind read-only.
func escBoundDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// escCheckBoundDir checks that the directory from escBoundDir is unchanged.
func escCheckBoundDir(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	b, err := os.ReadFile(filepath.Join(dir, "file"))
	st, _ := os.Stat(filepath.Join(dir, "file"))
	if len(names) != 1 || err != nil || string(b) != "original" || st.Mode().Perm() != 0o644 {
		t.Errorf("the read-only bind's source changed: entries %q, file %q (%v), mode %v", names, b, err, st.Mode())
	}
}

// escRaceBindSource is the set-up race of race-bind-source-symlink.
func escRaceBindSource(t *testing.T, name string) {
	top := t.TempDir()
	src, swap := filepath.Join(top, "src"), filepath.Join(top, "swap")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "marker"), []byte("intended"), 0o644)
	if err := os.Symlink("/etc", swap); err != nil {
		t.Fatal(err)
	}
	exchange := func() error {
		return unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE)
	}
	if err := exchange(); err != nil {
		t.Skipf("the host's temp dir cannot exchange names (renameat2 RENAME_EXCHANGE): %v", err)
	}
	exchange()
	exe, _ := os.Executable()
	opts := sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(src, "/data"), sandbox.Bind(exe, "/probe")}}
	sb := sandbox.New(opts) // validated now, while src is the directory

	var stop atomic.Bool
	var flips atomic.Int64
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		for !stop.Load() {
			if exchange() == nil {
				flips.Add(1)
			}
			// What a start binds depends on which name the path has at that
			// instant, about half the time the symlink, whatever the pace: a
			// slow one leaves the CPUs to the sandboxes.
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() {
		stop.Store(true)
		<-flipped
		if st, err := os.Lstat(src); err == nil && st.Mode()&os.ModeSymlink != 0 {
			exchange()
		}
	}()

	var mu sync.Mutex
	counts := map[string]int{}
	var seen, broken []string // runs that saw something else; runs that went wrong otherwise
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range jobs {
				c := sandbox.Command("/probe")
				c.Env = []string{"CORRAL_ATTACK=" + escAttackName(name)}
				var out strings.Builder
				c.Stdout = &out
				verdict, problem := "failed to start", ""
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				p, err := sb.RunContext(ctx, c)
				if err == nil {
					res, werr := p.Wait()
					verdict = strings.TrimSpace(strings.TrimPrefix(out.String(), "RESULT "))
					if werr != nil || !res.Success() {
						problem = fmt.Sprintf("victim: %v, %v, stdout %q", res, werr, out.String())
					}
				} else if se := (*sandbox.SetupError)(nil); !errors.As(err, &se) {
					problem = "not a clean failure: " + err.Error()
				}
				cancel()
				mu.Lock()
				counts[verdict]++
				if verdict != "intended" && verdict != "failed to start" {
					seen = append(seen, verdict)
				}
				if problem != "" {
					broken = append(broken, problem)
				}
				mu.Unlock()
			}
		})
	}
	for i := range 50 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d exchanges during 50 starts; outcomes %v", flips.Load(), counts)
	if flips.Load() == 0 {
		t.Fatal("the path was never exchanged: the race was not run")
	}
	if len(seen) > 0 {
		t.Errorf("%d of 50 sandboxes saw something else than the intended directory: %q", len(seen), seen)
	}
	if len(broken) > 0 {
		t.Errorf("%d of 50 runs went wrong: %q", len(broken), broken)
	}
}

// escCustomRootSymlinks is custom-root-symlink-mountpoints. It tries three
// roots: /tmp a symlink to ../../etc (where the root has no etc, and where
// it has one), and /work an absolute symlink to a path on the host whose
// parent exists. Each run must start with its mounts inside the root, or
// fail cleanly; the host's /etc and the host path are untouched.
func escCustomRootSymlinks(t *testing.T, name string) {
	top := t.TempDir()
	outside := filepath.Join(top, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	canary := filepath.Join(outside, "canary")
	etcBefore, etcStBefore := escDirNames(t, "/etc"), escStat(t, "/etc")
	var ms []sandbox.Mount
	for _, d := range []string{"/usr", "/lib", "/lib64", "/bin", "/sbin"} {
		if st, err := os.Lstat(d); err == nil && st.IsDir() {
			ms = append(ms, sandbox.Bind(d, d))
		} else if err == nil {
			ms = append(ms, sandbox.Bind("/usr"+d, d))
		}
	}
	for _, r := range []struct {
		name  string
		links map[string]string // name in the root -> symlink target
		dirs  []string          // directories the root has
	}{
		{"tmp-to-missing-etc", map[string]string{"tmp": "../../etc"}, nil},
		{"tmp-to-own-etc", map[string]string{"tmp": "../../etc"}, []string{"etc"}},
		{"work-to-host-path", map[string]string{"work": canary}, nil},
	} {
		root := filepath.Join(top, r.name)
		os.Mkdir(root, 0o755)
		for _, d := range r.dirs {
			os.Mkdir(filepath.Join(root, d), 0o755)
		}
		for l, target := range r.links {
			if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
				t.Fatal(err)
			}
		}
		o, err := escTry(t, name, escRun{opts: sandbox.Options{Root: root, Mounts: ms}, dir: "/"})
		if err != nil {
			var se *sandbox.SetupError
			if !errors.As(err, &se) {
				t.Errorf("%s: Run failed, but not cleanly: %v", r.name, err)
			}
			t.Logf("%s: the sandbox refused to start: %v", r.name, err)
		} else if o.verdict != "/tmp=tmpfs,/work=tmpfs" || !o.res.Success() {
			t.Errorf("%s: verdict %q, want /tmp=tmpfs,/work=tmpfs; %v", r.name, o.verdict, o)
		} else {
			t.Logf("%s: started, its mounts inside the root", r.name)
		}
		if _, err := os.Lstat(canary); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a mountpoint was created on the host at %s, through the root's symlink: %v", r.name, canary, err)
			os.RemoveAll(canary)
		}
	}
	if after := escDirNames(t, "/etc"); !slices.Equal(etcBefore, after) {
		t.Errorf("the host's /etc changed: %q before, %q after", etcBefore, after)
	}
	if st := escStat(t, "/etc"); st.Mtim != etcStBefore.Mtim || st.Ctim != etcStBefore.Ctim {
		t.Errorf("the host's /etc was modified (mtime %v -> %v)", etcStBefore.Mtim, st.Mtim)
	}
}

func escDirNames(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func escStat(t *testing.T, p string) unix.Stat_t {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}
