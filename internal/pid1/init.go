package pid1

// The child side: this runs as pid 1 of the new namespaces, in the
// re-executed binary, before the program's own main.

import (
	"bytes"
	"errors"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

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
	// reach the runtime's defaults. Any other signal the command sends us
	// is swallowed: by default the Go runtime would crash on it and print
	// its stacks into the command's stderr. Enabling a signal costs a round
	// trip with the runtime's signal thread, 0.6 ms for all of them: it
	// runs alongside the set-up, and the first command waits for it.
	sigc := make(chan os.Signal, 16)
	caught := make(chan struct{})
	go func() {
		signal.Notify(sigc, forwarded...)
		drain := make(chan os.Signal, 16)
		signal.Notify(drain, swallowed...)
		close(caught)
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
		if built, err = record(spec, l.tid); err != nil {
			conn.Send(protocol.Message{Failed: failure(err)})
			return 125
		}
	}

	// From here on one goroutine reads the socket, for signals to the
	// current command; the launcher thread serves the commands.
	var running atomic.Int64 // the command's pid, 0 between runs
	go func() {
		for {
			m, err := conn.Recv()
			if err != nil {
				// The host is gone (or the pool closed): end the sandbox.
				// Exiting pid 1 makes the kernel kill everything left in it.
				os.Exit(125)
			}
			if m.Signal != nil {
				if pid := running.Load(); pid > 0 && pid == int64(m.Signal.Pid) {
					unix.Kill(-int(pid), syscall.Signal(m.Signal.Signal))
				}
			}
		}
	}()
	go func() {
		for s := range sigc {
			if pid := running.Load(); pid > 0 {
				unix.Kill(-int(pid), s.(syscall.Signal))
			}
		}
	}()
	<-caught
	return l.serve(&server{conn: conn, files: fd + 1, spec: spec, built: built, running: &running})
}

// builtState is a reusable sandbox as it was built: its mount table,
// what its writable tmpfs mounts held, and the state of the init that a
// command could change and later commands would inherit.
type builtState struct {
	mountinfo []byte
	tmpfs     []isolate.Mount
	trees     []*isolate.Tree
	inherited *isolate.Inherited
}

// record notes the state of the sandbox just built, with the scheduling
// state of the launcher thread tid.
func record(spec *protocol.Spec, tid int) (*builtState, error) {
	b := &builtState{}
	var err error
	if b.inherited, err = isolate.RecordInherited(tid); err != nil {
		return nil, err
	}
	for _, m := range spec.Mounts {
		// The devpts instance too: its root's mode and times, and ptmx's.
		if m.Kind != isolate.Tmpfs && m.Kind != isolate.Devpts || m.ReadOnly {
			continue
		}
		t, err := isolate.Record(m.Target)
		if err != nil {
			return nil, err
		}
		t.Private = true // a filesystem of its own
		b.tmpfs, b.trees = append(b.tmpfs, m), append(b.trees, t)
	}
	b.mountinfo, err = os.ReadFile("/proc/self/mountinfo")
	return b, err
}

// reset returns a sandbox whose run has ended to the state it was built
// in: the init's inherited state as recorded (but for the limits in
// applied, which the launcher set on the init itself for the commands),
// its writable tmpfs mounts emptied but for what they held then, and its
// mount table unchanged; or it fails, and the sandbox is not reused.
// It reads the launcher thread's state by its id: it runs on another
// thread, which Landlock does not confine.
func (b *builtState) reset(applied []isolate.Rlimit) error {
	if err := b.inherited.Restore(applied); err != nil {
		return err
	}
	for i, m := range b.tmpfs {
		if err := isolate.Clear(m.Target, b.trees[i]); err != nil {
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
	// With a filter, no user namespace may be created inside this one at
	// all: clone3's flags are out of the filter's reach.
	if err := isolate.LimitUserCounts(spec.UserCounts, spec.Filter != nil); err != nil {
		return nil, err
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
