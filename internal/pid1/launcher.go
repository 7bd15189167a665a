package pid1

// The init's launcher thread: confined ahead of time, it serves the
// sandbox's commands, one or (Spec.Reuse) one per run.

import (
	"errors"
	"runtime"

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
// init's threads (each cost tens of microseconds of wake-up). In a live
// sandbox (live.go) it only receives and starts the commands, and a
// goroutine of the init reaps them, for it must take the next command while
// the last one runs. The thread
// ends with the init (locked, never unlocked): nothing else of the init
// runs confined, and nothing confined runs elsewhere.
type launcher struct {
	jobs chan func()
	tid  int // the launcher thread's id, once it ran a job
}

// startLauncher starts the launcher thread, which runs the jobs do and run
// give it, one after another.
func startLauncher() *launcher {
	l := &launcher{jobs: make(chan func())}
	serve := func() {
		l.tid = unix.Gettid()
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
	return l
}

// do runs steps in order on the launcher thread until one fails, and
// returns its error.
func (l *launcher) do(steps ...func() error) error {
	done := make(chan error)
	l.jobs <- func() { done <- inOrder(steps...) }
	return <-done
}

// run runs f on the launcher thread and returns what it returns.
func (l *launcher) run(f func() int) int {
	code := make(chan int)
	l.jobs <- func() { code <- f() }
	return <-code
}

// dropCapabilities empties the launcher thread's bounding, ambient and
// inheritable capability sets but for the capabilities the command keeps,
// locks its secure bits and sets no_new_privs (isolate.DropPrivileges).
// The thread keeps its permitted and effective sets, CAP_SYS_ADMIN in the
// sandbox's user namespace among them (renewNamespaces, start): each
// command's execve empties them.
func (s *state) dropCapabilities() error {
	return isolate.DropPrivileges(s.spec.Capabilities...)
}

// landlockScopes applies the Landlock scopes (the signal scope) to the
// launcher thread, with no filesystem rules: the commands' domains nest in
// this one.
func (s *state) landlockScopes() error {
	if s.spec.Scopes == 0 {
		return nil
	}
	_, err := isolate.Landlock(nil, s.spec.Scopes)
	return err
}

// openLandlockRules opens the Landlock filesystem rules that each command
// applies to itself (ruleset); the launcher is not confined by them.
//
// In a live sandbox (Spec.Live) the launcher confines itself with them
// instead, and its commands inherit that one domain and add none of their
// own: commands in sibling domains could neither signal one another (the
// signal scope) nor see one another in /proc (hidepid=ptraceable), and a
// Box's commands share their pid namespace on purpose. What they lose is
// the rule for each file passed to them: a command can use its stdio and
// ExtraFiles, but not reopen a host file among them by path
// (/dev/stdin); pipes and sockets it can.
func (s *state) openLandlockRules() error {
	if s.landlock == nil {
		return nil
	}
	if s.spec.Live {
		_, err := isolate.Landlock(s.landlock, s.spec.Scopes)
		return err
	}
	rules, err := isolate.NewRuleset(s.landlock, s.spec.Scopes)
	if err != nil {
		return err
	}
	s.rules = rules
	return nil
}

// installFilter installs the seccomp filter on the launcher thread. What
// the launcher does afterwards runs under the filter too: isolate.Start
// makes no call the default profile refuses (openat2, prlimit on another
// process), and asks another thread where a caller's rule may refuse one
// (getcwd).
//
// With Spec.Notify the filter's refusals are user notifications, which
// the host answers: installed with a listener, which goes to the host
// (sendHostFiles) before the launcher makes another call (life): a call
// the filter refuses waits for the host's answer, and would wait for ever
// while the init held the listener.
func (s *state) installFilter() error {
	switch {
	case s.spec.Filter == nil && s.spec.Notify:
		return errors.New("pid1: the spec asks for the filter's notifications, but has no filter")
	case s.spec.Filter == nil:
		return nil
	case !s.spec.Notify:
		return isolate.InstallFilter(s.spec.Filter)
	}
	fd, err := isolate.InstallFilterListener(s.spec.Filter)
	if err != nil {
		return err
	}
	s.hostFiles = append(s.hostFiles, fd) // after the TAP (linkUp)
	return nil
}
