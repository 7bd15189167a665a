package sandbox

// The child side: this runs as pid 1 of the new namespaces, in the
// re-executed binary, before the program's own main.

import (
	"bytes"
	"errors"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// nprocSlack is room under RLIMIT_NPROC for threads the init's Go runtime
// may start after the command: a refused thread would crash the init.
const nprocSlack = 16

// idleAfter is how long a built sandbox waits for its command before its
// init returns its free memory to the kernel (pooled sandboxes).
const idleAfter = 20 * time.Millisecond

// forwarded are the signals the init passes on to the command.
var forwarded = []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM, syscall.SIGCONT}

// swallowed are the other signals the command can send its init.
var swallowed = []os.Signal{syscall.SIGABRT, syscall.SIGTRAP, syscall.SIGSYS, syscall.SIGPIPE,
	syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL, syscall.SIGXCPU, syscall.SIGXFSZ,
	syscall.SIGPROF, syscall.SIGVTALRM, syscall.SIGSTKFLT, syscall.SIGPWR, syscall.SIGIO,
	syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU}

// runInit sets the sandbox up, runs the command and returns the init's exit code.
func runInit(fdText string) int {
	// The main thread (locked to main since package init) is named for ps
	// and /proc/1/comm; then main is free to move: waking a goroutine
	// locked to a thread costs a thread hand-off on every message.
	os.Unsetenv(protocol.EnvMarker)
	isolate.SetName("corral-init")
	runtime.UnlockOSThread()
	// Signals are caught before the command exists, so none it sends can
	// reach the runtime's defaults.
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, forwarded...)
	// Any other signal the command sends us is swallowed: by default the Go
	// runtime would crash on it and print its stacks into the command's stderr.
	drain := make(chan os.Signal, 16)
	signal.Notify(drain, swallowed...)
	go func() {
		for range drain {
		}
	}()
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		return 125
	}
	// Nothing of ours may survive into the command: every fd but the
	// /dev/null stdio is close-on-exec (the sockets, the cgroup fds, and
	// anything C code or the runtime opened); the command's own files come
	// with Exec and are placed by the fork.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	sock := os.NewFile(uintptr(fd), "corral-init")
	conn := protocol.NewConn(sock)
	m, err := conn.Recv()
	if err != nil || m.Spec == nil {
		return 125
	}
	spec := m.Spec
	l, err := setup(spec)
	if err != nil {
		conn.Send(protocol.Message{Failed: failure(err)})
		return 125
	}
	var built *builtState // what a reset returns the sandbox to
	if spec.Reuse {
		if built, err = record(spec); err != nil {
			conn.Send(protocol.Message{Failed: failure(err)})
			return 125
		}
	}

	// From here on one goroutine reads the socket: signals for the
	// current command are passed on at once, Exec goes to the loop below.
	var running atomic.Int64 // the command's pid, 0 between runs
	msgs := make(chan protocol.Message)
	go func() {
		for {
			m, err := conn.Recv()
			if err != nil {
				// The host is gone (or the pool closed): end the sandbox.
				// Exiting pid 1 makes the kernel kill everything left in it.
				os.Exit(125)
			}
			if m.Signal != nil {
				if pid := running.Load(); pid > 0 {
					unix.Kill(-int(pid), syscall.Signal(m.Signal.Signal))
				}
				continue
			}
			msgs <- m
		}
	}()
	go func() {
		for s := range sigc {
			if pid := running.Load(); pid > 0 {
				unix.Kill(-int(pid), s.(syscall.Signal))
			}
		}
	}()
	fail := func(step string, err error) int {
		f := failure(err)
		if step != "" {
			f = &protocol.Failed{Step: step, Message: err.Error()}
		}
		conn.Send(protocol.Message{Failed: f})
		return 125
	}
	for {
		conn.Send(protocol.Message{Ready: &protocol.Ready{}})
		// A pooled sandbox waits here for its command. One that waits
		// gives back the memory its set-up used.
		idle := time.AfterFunc(idleAfter, debug.FreeOSMemory)
		m := <-msgs
		idle.Stop()
		if m.Exec == nil {
			return fail("protocol", errors.New("expected Exec"))
		}
		files, err := protocol.RecvFiles(fd+1, fileCount(m.Exec))
		if err != nil {
			return fail("files", err)
		}
		pid, err := l.start(m.Exec, files, spec)
		if err != nil {
			return fail("", err)
		}
		running.Store(int64(pid))
		conn.Send(protocol.Message{Started: &protocol.Started{Pid: pid}})
		ex := reap(pid)
		running.Store(0)
		// Nothing of the run outlives its report: the host may return from
		// Wait on it and end the sandbox (or reuse it) afterwards.
		killAll()
		conn.Send(protocol.Message{Exited: ex})
		if !spec.Reuse {
			if ex.Signal != 0 {
				return 128 + ex.Signal
			}
			return ex.ExitCode
		}
		if err := l.renewIPC(); err != nil {
			return fail("reset", err)
		}
		if err := built.reset(); err != nil {
			return fail("reset", err)
		}
	}
}

// fileCount is how many files come with e: the command's and its cgroup's.
func fileCount(e *protocol.Exec) int {
	n := 3 + e.Command.ExtraFiles + len(e.Cgroup.Enter) + len(e.Cgroup.Leave)
	if e.Cgroup.Dir > 0 {
		n++
	}
	return n
}

// killAll kills every process of the sandbox but the init and reaps them.
func killAll() {
	unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if err == unix.ECHILD {
			return
		}
	}
}

// builtState is a reusable sandbox as it was built: its mount table and
// what its writable tmpfs mounts held.
type builtState struct {
	mountinfo []byte
	tmpfs     []isolate.Mount
	trees     []isolate.Tree
}

// record notes the state of the sandbox just built.
func record(spec *protocol.Spec) (*builtState, error) {
	b := &builtState{}
	for _, m := range spec.Mounts {
		if m.Kind != isolate.Tmpfs || m.ReadOnly {
			continue
		}
		t, err := isolate.Record(m.Target)
		if err != nil {
			return nil, err
		}
		b.tmpfs, b.trees = append(b.tmpfs, m), append(b.trees, t)
	}
	var err error
	b.mountinfo, err = os.ReadFile("/proc/self/mountinfo")
	return b, err
}

// reset returns a sandbox whose run has ended to the state it was built
// in: its writable tmpfs mounts emptied but for what they held then, and
// its mount table unchanged; or it fails, and the sandbox is not reused.
func (b *builtState) reset() error {
	for i, m := range b.tmpfs {
		mode := m.Mode
		if mode == 0 {
			mode = 0o1777 // tmpfs's own default
		}
		if err := isolate.Clear(m.Target, mode, b.trees[i]); err != nil {
			return err
		}
	}
	now, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	if !bytes.Equal(now, b.mountinfo) {
		return errors.New("the mount table changed during the run")
	}
	return nil
}

// setup builds the sandbox and prepares the thread that will start the
// command.
func setup(spec *protocol.Spec) (*launcher, error) {
	if spec.Filter != nil {
		// clone3's flags are out of the filter's reach: no user namespace
		// may be created inside this one at all.
		if err := isolate.LimitUserNamespaces(); err != nil {
			return nil, err
		}
	}
	if err := isolate.MakePrivate(); err != nil {
		return nil, err
	}
	src, err := isolate.OpenSources(spec.Root, spec.Mounts)
	if err != nil {
		return nil, err
	}
	staging := "/tmp"
	if _, err := os.Stat(staging); err != nil {
		staging = "/proc" // everything is opened already; any directory will do
	}
	if err := isolate.BuildRoot(staging, spec.Root, spec.Mounts, src); err != nil {
		return nil, err
	}
	if err := isolate.PivotRoot(staging); err != nil {
		return nil, err
	}
	if err := isolate.SetHostname(spec.Hostname); err != nil {
		return nil, err
	}
	if spec.Loopback {
		if err := isolate.LoopbackUp(); err != nil {
			return nil, err
		}
	}
	return newLauncher(spec)
}

// launcher is the thread the command starts from. It drops its privileges
// and installs the filter ahead of time (a pooled sandbox pays for that
// before its Run), then waits for the command, which inherits them; a
// reused sandbox's launcher starts every run's command. The thread ends
// with the init (locked, never unlocked): nothing else of the init runs
// filtered.
type launcher struct {
	jobs  chan *isolate.Command // nil: renew the IPC namespace (renewIPC)
	done  chan launched
	nproc uint64 // the RLIMIT_NPROC the commands get (degraded Pids), once set
}

type launched struct {
	pid int
	err error
}

func newLauncher(spec *protocol.Spec) (*launcher, error) {
	l := &launcher{jobs: make(chan *isolate.Command), done: make(chan launched)}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := confine(spec); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for c := range l.jobs { // one in a sandbox used once, one per run in a reused one
			if c == nil {
				l.done <- launched{0, unix.Unshare(unix.CLONE_NEWIPC)}
				continue
			}
			pid, err := isolate.Start(c)
			l.done <- launched{pid, err}
		}
	}()
	return l, <-ready
}

// renewIPC gives the launcher, and so the commands it starts next, a new
// IPC namespace: a reused sandbox's runs share no SysV objects. Done after
// a run, off the next one's path (a new namespace per command at its clone
// cost about 0.15 ms). The init's first run has the namespace the init was
// born with, which nothing used; the launcher keeps CAP_SYS_ADMIN in the
// sandbox's user namespace until each command's execve (see confine).
func (l *launcher) renewIPC() error {
	l.jobs <- nil
	if err := (<-l.done).err; err != nil {
		return &isolate.Error{Step: "unshare ipc", Err: err}
	}
	return nil
}

// start starts e's command with the first 3+ExtraFiles files as its fds 0,
// 1, 2, ..., in the cgroup the rest name, and returns its pid.
func (l *launcher) start(e *protocol.Exec, files []int, spec *protocol.Spec) (int, error) {
	defer func() {
		for _, f := range files {
			unix.Close(f) // the command has its copies
		}
	}()
	c := e.Command
	path, err := isolate.LookPath(c.Path, c.Env)
	if err != nil {
		return 0, err
	}
	fds := make([]uintptr, 3+c.ExtraFiles)
	for i := range fds {
		fds[i] = uintptr(files[i])
	}
	// The placement names files by index: make it name their fds.
	pl := isolate.Placement{}
	if e.Cgroup.Dir > 0 {
		pl.Dir = files[e.Cgroup.Dir]
	}
	for _, i := range e.Cgroup.Enter {
		pl.Enter = append(pl.Enter, files[i])
	}
	for _, i := range e.Cgroup.Leave {
		pl.Leave = append(pl.Leave, files[i])
	}
	rlimits := append([]isolate.Rlimit(nil), spec.Rlimits...)
	for i, r := range rlimits {
		if r.Resource == unix.RLIMIT_NPROC {
			// The count is per user, and this init's threads are the same
			// user; the Go runtime may start a few more of them later. It
			// is fixed at the first run: the launcher cannot raise its hard
			// limit again for a reused sandbox's later runs.
			if l.nproc == 0 {
				threads, _ := os.ReadDir("/proc/self/task")
				l.nproc = r.Cur + uint64(len(threads)) + nprocSlack
			}
			rlimits[i].Cur, rlimits[i].Max = l.nproc, l.nproc
		}
	}
	l.jobs <- &isolate.Command{
		Path: path, Args: c.Args, Env: c.Env, Dir: c.Dir, Files: fds,
		Cgroup: pl, Rlimits: rlimits, CgroupNamespace: pl.Dir > 0 || len(pl.Enter) > 0,
	}
	st := <-l.done
	return st.pid, st.err
}

// confine drops privileges and applies Landlock and the seccomp filter to
// the calling thread.
func confine(spec *protocol.Spec) error {
	if err := isolate.DropPrivileges(spec.Capabilities...); err != nil {
		return err
	}
	if spec.Landlock != nil {
		if _, err := isolate.Landlock(spec.Landlock); err != nil {
			return err
		}
	}
	if spec.Filter != nil {
		if err := isolate.InstallFilter(spec.Filter); err != nil {
			return err
		}
	}
	return nil
}

// reap waits for every child (orphans are re-parented to us) until the
// command itself exits, and reports how it ended.
func reap(pid int) *protocol.Exited {
	for {
		var ws unix.WaitStatus
		var ru unix.Rusage
		got, err := unix.Wait4(-1, &ws, 0, &ru)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &protocol.Exited{ExitCode: -1, Signal: int(unix.SIGKILL)}
		}
		if got != pid {
			continue
		}
		ex := &protocol.Exited{
			ExitCode:   ws.ExitStatus(),
			UserUsec:   ru.Utime.Sec*1e6 + ru.Utime.Usec,
			SystemUsec: ru.Stime.Sec*1e6 + ru.Stime.Usec,
			MaxRSS:     ru.Maxrss * 1024,
		}
		if ws.Signaled() {
			ex.ExitCode, ex.Signal = -1, int(ws.Signal())
		}
		return ex
	}
}

// failure turns a set-up error into its wire form.
func failure(err error) *protocol.Failed {
	f := &protocol.Failed{Step: "setup", Message: err.Error()}
	var ie *isolate.Error
	if errors.As(err, &ie) {
		f.Step, f.Path, f.Message = ie.Step, ie.Path, ""
		var errno syscall.Errno
		if errors.As(ie.Err, &errno) {
			f.Errno = int(errno)
		} else {
			f.Message = ie.Err.Error()
		}
	}
	return f
}
