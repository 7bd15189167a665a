package pid1

// A live sandbox (Spec.Live, sandbox.Box): the launcher thread starts
// each command as it comes, while earlier ones run; a reaper goroutine
// reports each command's end by its run.

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// liveRuns are a live sandbox's running commands. Its mutex orders the
// launcher's forks against the reaper: the launcher holds it from before a
// fork until the new command is noted (and reported started), and the
// reaper reaps under it, so that a command that exits at once is reaped
// only once it is noted (its Exited comes after its Started), and a
// command's pid is forgotten as it is reaped, before the kernel can give
// it to another process: a signal for a run never reaches a recycled pid.
type liveRuns struct {
	mu     sync.Mutex
	pids   map[int]int   // pid → run, of each command that runs
	runs   map[int]int   // run → pid
	forked chan struct{} // the launcher has forked (room for one): the reaper may have a child again
}

func newLiveRuns() *liveRuns {
	return &liveRuns{pids: map[int]int{}, runs: map[int]int{}, forked: make(chan struct{}, 1)}
}

// serveLive serves a live sandbox, on the launcher thread: it reports the
// sandbox ready, then starts each command that comes and reports it
// started (or failed: the sandbox goes on), until the host is gone.
// Unlike a run's (life), a command's exit kills nothing: what it left in
// the background runs on, and the sandbox ends only with the init.
func (s *state) serveLive() int {
	l := s.live
	go s.reapLive()
	s.ready()
	for {
		e, files, err := s.receiveExec()
		if errors.Is(err, io.EOF) {
			return 125 // the host is gone, or ended this sandbox
		}
		if err != nil {
			return s.fail("files", err)
		}
		if copyOnly(e) {
			go s.copyLive(e, files) // copylive.go: Box.CopyIn, CopyOut
			continue
		}
		l.mu.Lock()
		pid, err := s.start(e, files)
		if err != nil {
			l.mu.Unlock()
			f := failure(err)
			f.Run = e.Run
			s.send(protocol.Message{Failed: f})
			continue
		}
		l.pids[pid], l.runs[e.Run] = e.Run, pid
		s.send(protocol.Message{Started: &protocol.Started{Run: e.Run, Pid: pid}})
		l.mu.Unlock()
		select {
		case l.forked <- struct{}{}:
		default:
		}
	}
}

// reapLive reaps every child of the init, on a goroutine of its own: the
// commands, and the orphans the kernel re-parents to pid 1. A command's
// end is reported with its rusage, by its run. It waits without reaping
// (WNOWAIT) for a child to exit, then reaps under the mutex (liveRuns).
func (s *state) reapLive() {
	l := s.live
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.ECHILD:
			<-l.forked // no child now: wait for the next fork
			continue
		default:
			// Cannot wait: no command's end would ever be reported. The
			// init exits, and with it the sandbox; the host sees the Box
			// end (its init gone) and every Wait returns.
			os.Exit(125)
		}
		l.mu.Lock()
		for {
			var ws unix.WaitStatus
			var ru unix.Rusage
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, &ru)
			if err == unix.EINTR {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			run, ok := l.pids[pid]
			if !ok {
				continue // an orphan, or a start that failed
			}
			delete(l.pids, pid)
			delete(l.runs, run)
			ex := exitedFrom(ws, &ru)
			ex.Run = run
			s.send(protocol.Message{Exited: ex})
		}
		l.mu.Unlock()
	}
}

// signal sends sig to run's command and its process group, if the command
// still runs.
func (l *liveRuns) signal(run int, sig syscall.Signal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pid, ok := l.runs[run]; ok {
		unix.Kill(-pid, sig)
	}
}
