package pid1

// The init's launcher thread: confined ahead of time, it serves the
// sandbox's commands, one or (Options.Reuse) one per run.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// launcher is the thread the commands start from. It drops its privileges
// and installs the Landlock scopes and the filter ahead of time (a pooled
// sandbox pays for that before its Run), and every command inherits them;
// it opens the Landlock rules then too, and each command confines itself
// with them, and the files passed to it, as it starts (ruleset). It then runs
// the whole of each run itself: it waits for the command on the fd socket,
// starts it, reports it started, reaps it and reports its end, so a command
// reaches it, and its end reaches the host, with no hand-off between the
// init's threads (each cost tens of microseconds of wake-up). The thread
// ends with the init (locked, never unlocked): nothing else of the init
// runs confined, and nothing confined runs elsewhere.
type launcher struct {
	jobs    chan func()
	tid     int              // the launcher thread's id
	threads int              // the init's threads when it began to serve
	netBase []byte           // netState after the last renewal (renew)
	nproc   uint64           // the RLIMIT_NPROC the commands get (degraded Pids), once set
	applied []isolate.Rlimit // the limits the last start set on the init itself
	rules   *isolate.Ruleset // the Landlock filesystem rules, nil without
}

func newLauncher(spec *protocol.Spec) (*launcher, error) {
	l := &launcher{jobs: make(chan func())}
	ready := make(chan error)
	serve := func() {
		l.tid = unix.Gettid()
		if err := l.confine(spec); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range l.jobs {
			f()
		}
	}
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			serve()
			return
		}
		// The main thread: it leads the init's thread group, and a
		// signal to the init as a whole is judged by its Landlock domain
		// (the signal scope), which must not be the command's. The main
		// thread stays locked here until another has locked itself.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			serve()
		}()
		<-locked
		runtime.UnlockOSThread()
	}()
	return l, <-ready
}

// server is what the launcher serves the runs with.
type server struct {
	conn    *protocol.Conn // to the host; only the launcher sends on it from now on
	files   int            // the fd socket, on which each Exec comes with its files
	spec    *protocol.Spec
	built   *builtState   // what a reset returns the sandbox to (Reuse)
	running *atomic.Int64 // the command's pid, for signals, 0 between runs
}

// serve runs the sandbox's runs on the launcher thread and returns the
// init's exit code.
func (l *launcher) serve(s *server) int {
	// Counted here, on an unconfined thread (the launcher's confinement
	// may keep /proc from it), once the init's goroutines have their threads.
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		l.threads = len(tasks)
	}
	code := make(chan int)
	l.jobs <- func() { code <- l.runs(s) }
	return <-code
}

// runs reports the sandbox ready, and serves runs until the sandbox is
// done: after one run, or with Reuse until a reset fails or the host goes.
func (l *launcher) runs(s *server) int {
	fail := func(step string, err error) int {
		f := failure(err)
		if step != "" {
			f = &protocol.Failed{Step: step, Message: err.Error()}
		}
		s.conn.Send(protocol.Message{Failed: f})
		return 125
	}
	// Each run of a reused sandbox has namespaces of its own (renew).
	renewIPC := func() error {
		if !s.spec.Reuse {
			return nil
		}
		return l.renew(s.spec, false) // the init's network namespace is new
	}
	if err := renewIPC(); err != nil {
		return fail("", err)
	}
	primed := false // the codecs have run once (primeCodecs)
	for {
		s.conn.Send(protocol.Message{Ready: &protocol.Ready{}})
		// A pooled sandbox waits here for its command. (It does not force
		// a GC to give memory back while it waits: measured, the GC's own
		// pages made an idle init bigger, 1.67 MiB private against 1.33.)
		if !primed && !commandWaiting(s.files) {
			primeCodecs()
		}
		primed = true
		e, files, err := protocol.RecvExec(s.files)
		if errors.Is(err, io.EOF) {
			return 125 // the host is gone, or ended this sandbox
		}
		if err != nil {
			return fail("files", err)
		}
		pid, err := l.start(e, files, s.spec)
		if err != nil {
			return fail("", err)
		}
		s.running.Store(int64(pid))
		s.conn.Send(protocol.Message{Started: &protocol.Started{Pid: pid}})
		ex := reap(pid)
		s.running.Store(0)
		// Nothing of the run outlives its report: the host may return from
		// Wait on it and end the sandbox (or reuse it) afterwards.
		killAll()
		s.conn.Send(protocol.Message{Exited: ex})
		if !s.spec.Reuse {
			if ex.Signal != 0 {
				return 128 + ex.Signal
			}
			return ex.ExitCode
		}
		if err := l.renew(s.spec, true); err != nil {
			return fail("reset", err)
		}
		// The reset walks the tmpfs mounts, which the launcher's
		// confinement may keep from it: another, unconfined, thread does it.
		reset := make(chan error)
		go func() { reset <- s.built.reset(l.applied) }()
		if err := <-reset; err != nil {
			return fail("reset", err)
		}
	}
}

// commandWaiting reports whether a command is already waiting on the fd
// socket fd (a cold Run sends it right after the spec). The peek leaves
// the message, and the files it carries, in the socket.
func commandWaiting(fd int) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err != unix.EAGAIN
}

// primeCodecs runs the JSON codecs of a run's messages once, while a
// pooled sandbox waits for its command: their first use builds reflection
// caches that would otherwise land on the run (measured: a warm run after
// 10 ms idle, 1.56-1.59x exec.Command without, 1.46-1.53x with).
func primeCodecs() {
	var e protocol.Exec
	json.Unmarshal([]byte(`{"Command":{"Path":"/","Args":["/"],"Env":["A=b"],"Dir":"/","ExtraFiles":1},"Cgroup":{"Dir":1,"Enter":[1],"Leave":[1]}}`), &e)
	json.Marshal(protocol.Message{Started: &protocol.Started{}})
	json.Marshal(protocol.Message{Exited: &protocol.Exited{}})
}

// start starts e's command with the first 3+ExtraFiles files as its fds 0,
// 1, 2, ..., in the cgroup the rest name, and returns its pid. It closes
// the files.
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
	fd := func(i int) (int, error) {
		if i < len(fds) || i >= len(files) {
			return 0, fmt.Errorf("protocol: cgroup file index %d out of range", i)
		}
		return files[i], nil
	}
	pl := isolate.Placement{}
	if e.Cgroup.Dir > 0 {
		if pl.Dir, err = fd(e.Cgroup.Dir); err != nil {
			return 0, err
		}
	}
	for _, list := range []struct{ idx, fds *[]int }{{&e.Cgroup.Enter, &pl.Enter}, {&e.Cgroup.Leave, &pl.Leave}} {
		for _, i := range *list.idx {
			f, err := fd(i)
			if err != nil {
				return 0, err
			}
			*list.fds = append(*list.fds, f)
		}
	}
	rlimits := append([]isolate.Rlimit(nil), spec.Rlimits...)
	for i, r := range rlimits {
		if r.Resource == unix.RLIMIT_NPROC {
			// The count is per user, and this init's threads are the same
			// user; the Go runtime may start a few more of them later. It
			// is fixed at the first run: the launcher cannot raise its hard
			// limit again for a reused sandbox's later runs.
			if l.nproc == 0 {
				l.nproc = r.Cur + uint64(l.threads) + protocol.NprocSlack
			}
			rlimits[i].Cur, rlimits[i].Max = l.nproc, l.nproc
		}
	}
	l.applied = rlimits
	ruleset, err := l.ruleset(fds, spec)
	if err != nil {
		return 0, err
	}
	if ruleset.fresh {
		defer unix.Close(ruleset.fd)
	}
	// The command starts with no signal blocked (the fork copies this
	// thread's mask). Signals the last run left pending on this thread
	// are dropped first: delivered, they would be forwarded to this run's
	// command.
	discardPending()
	unblockSignals()
	defer blockSignals()
	return isolate.Start(&isolate.Command{
		Path: path, Args: c.Args, Env: c.Env, Dir: c.Dir, Files: fds,
		Cgroup: pl, Rlimits: rlimits, CgroupNamespace: pl.Dir > 0 || len(pl.Enter) > 0,
		Landlock: ruleset.fd,
	})
}

// runRuleset is the Landlock ruleset of one run: fd, to be closed after
// the start when fresh; fd -1 means none.
type runRuleset struct {
	fd    int
	fresh bool
}

// ruleset returns the Landlock ruleset for a command passed files: the
// mounts' rules and one per passed regular file or device, with the access
// its fd has (isolate.Ruleset.For), so that the command can reopen its
// stdio by path (/dev/stdin) as it can use it, and no further. The command
// restricts itself to it before its execve (isolate.Start): a domain of
// its own for each run, which is why the launcher is not confined by the
// rules itself (Landlock layers only narrow, and a launcher's domain would
// hold no run's files). Where the caller's filter may refuse the launcher
// the calls that build a ruleset, another, unfiltered, thread builds it.
func (l *launcher) ruleset(fds []uintptr, spec *protocol.Spec) (runRuleset, error) {
	if l.rules == nil {
		return runRuleset{fd: -1}, nil
	}
	var r runRuleset
	var err error
	build := func() error {
		r.fd, r.fresh, err = l.rules.For(fds)
		return err
	}
	if spec.RulesetElsewhere {
		err = onOtherThread(build)
	} else {
		err = build()
	}
	return r, err
}

// onOtherThread runs f in a new goroutine, on a thread other than the
// launcher's (which is locked), and returns its error.
func onOtherThread(f func() error) error {
	done := make(chan error)
	go func() { done <- f() }()
	return <-done
}

// confine drops privileges, applies the Landlock scopes and the seccomp
// filter to the calling thread, and opens the Landlock filesystem rules
// that each command applies to itself (ruleset). What the launcher does
// afterwards runs under the filter too: isolate.Start makes no call the
// default profile refuses (openat2, prlimit on another process), and asks
// another thread where a caller's rule may refuse one (getcwd).
func (l *launcher) confine(spec *protocol.Spec) error {
	if err := isolate.DropPrivileges(spec.Capabilities...); err != nil {
		return err
	}
	if spec.Scopes != 0 {
		if _, err := isolate.Landlock(nil, spec.Scopes); err != nil {
			return err
		}
	}
	if spec.Landlock != nil {
		rules, err := isolate.NewRuleset(spec.Landlock, spec.Scopes)
		if err != nil {
			return err
		}
		l.rules = rules
	}
	if spec.Filter != nil {
		if err := isolate.InstallFilter(spec.Filter); err != nil {
			return err
		}
	}
	// The signal scope keeps the command, whose Landlock domain is nested
	// in this thread's, from signalling the init, this thread too. Where
	// the kernel lacks the scope, and for a command with no domain of its
	// own (LandlockOff), this thread blocks every signal besides, so that
	// none the command sends its thread id wakes the init (signals to the
	// init as a whole go to its other threads, the host's). Each fork
	// unblocks them (start), for the command does not inherit a blocked
	// mask.
	return blockSignals()
}

// blockSignals blocks every signal on the calling thread. The fault
// signals too (SIGSEGV, SIGBUS, ...): a fault on this thread then kills the
// init at once, with no Go stack, and the host sees an init that died
// without a report; unblocked, a command could wake the init with them.
func blockSignals() error {
	all := unix.Sigset_t{}
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, nil); err != nil {
		return &isolate.Error{Step: "sigprocmask", Err: err}
	}
	return nil
}

// unblockSignals unblocks every signal on the calling thread.
func unblockSignals() {
	unix.PthreadSigmask(unix.SIG_SETMASK, &unix.Sigset_t{}, nil)
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
