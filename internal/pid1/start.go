package pid1

// Starting one run's command, on the launcher thread.

import (
	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// start starts e's command with the first 3+ExtraFiles files as its fds 0,
// 1, 2, ..., in the cgroup the rest name, and returns its pid. It closes
// the files. The fork restricts itself with the run's Landlock ruleset and
// execs (isolate.Start).
func (s *state) start(e *protocol.Exec, files []int) (pid int, err error) {
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
	pl, err := protocol.IsolateCgroup(e, files)
	if err != nil {
		return 0, err
	}
	if e.Terminal != nil {
		master, terr := openTerminal(e.Terminal, files)
		if terr != nil {
			return 0, terr
		}
		// The master goes to the host once the command has started (and
		// before Started), so that a start that fails leaves none queued
		// on the fd socket; the command keeps only the slave.
		defer unix.Close(master)
		defer func() {
			if err == nil && pid > 0 {
				if err = protocol.SendTerminal(s.files, e.Run, master); err != nil {
					unix.Kill(pid, unix.SIGKILL) // reaped as any command; it is reported failed
				}
			}
		}()
		for i := range fds[:3] {
			fds[i] = uintptr(files[i])
		}
	}
	rlimits := append([]isolate.Rlimit(nil), s.rlimits...)
	for i, r := range rlimits {
		if r.Resource == unix.RLIMIT_NPROC {
			// The count is per user, and this init's threads are the same
			// user; the Go runtime may start a few more of them later. It
			// is fixed at the first run: the launcher cannot raise its hard
			// limit again for a reused sandbox's later runs.
			if s.nproc == 0 {
				s.nproc = r.Cur + uint64(s.threads) + protocol.NprocSlack
			}
			rlimits[i].Cur, rlimits[i].Max = s.nproc, s.nproc
		}
	}
	s.applied = rlimits
	ruleset, err := s.ruleset(fds)
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
		Landlock: ruleset.fd, Ctty: e.Terminal != nil,
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
func (s *state) ruleset(fds []uintptr) (runRuleset, error) {
	if s.rules == nil {
		return runRuleset{fd: -1}, nil
	}
	var r runRuleset
	var err error
	build := func() error {
		r.fd, r.fresh, err = s.rules.For(fds)
		return err
	}
	if s.spec.RulesetElsewhere {
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
