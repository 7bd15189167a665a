package pid1

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
)

// life is the init's whole life, in order, and returns its exit code.
// Each step says the thread it runs on: the main thread; the launcher
// thread (launcher.go), locked, the one thread that is ever confined; or
// any thread: main's goroutine once it is unlocked, which the runtime may
// move between threads, or a goroutine of its own. Every thread but the
// launcher's is unconfined, and what the set-up changes (mounts, root,
// hostname, lo) is the whole process's. A step that fails ends the init:
// with a Failed report when the host can be told (its Step comes from the
// isolate.Error, or is "setup", "files" or "reset"), else with 125 alone.
func life(marker string) int {
	s := &state{}

	nameInit() // main thread: /proc/1/comm; main's goroutine moves freely from here on

	// Set-up: any thread.
	sigs, caught := catchSignals() // on a goroutine of its own, alongside the set-up
	if err := s.openSockets(marker); err != nil {
		return 125 // no socket to report on
	}
	if err := s.readSpec(); err != nil {
		return 125 // not a host that can read a report
	}
	if err := inOrder(
		s.limitUserCounts,
		s.makePrivate,
		s.openSources,
		s.linkUp, // link.go: before the pivot, while the host's /dev/net/tun is in view
		s.buildRoot,
		s.pivot,
		s.setHostname,
		s.loopbackUp,
	); err != nil {
		return s.fail("", err)
	}

	// Confinement: the launcher thread, ahead of any command.
	s.launcher = startLauncher()
	if err := s.launcher.do(
		s.dropCapabilities,
		s.landlockScopes,
		s.openLandlockRules,
		s.installFilter,
	); err != nil {
		return s.fail("", err)
	}
	// Any thread: the files the host asked for, before the first Ready,
	// the filter's listener among them. From now on the host answers the
	// calls the filter refuses (Spec.Notify), the launcher's too.
	if err := s.sendHostFiles(s.hostFiles); err != nil { // link.go
		return s.fail("files", err)
	}
	s.hostFiles = nil
	if err := s.launcher.do(blockSignals); err != nil {
		return s.fail("", err)
	}

	// Any thread.
	if err := s.recordBuilt(); err != nil { // Reuse only
		return s.fail("", err)
	}
	if s.spec.Live {
		s.live = newLiveRuns() // before the host's signals, which name its runs
	}
	go s.forwardHostSignals() // reads the socket from now on; the host's EOF ends the init
	go s.forwardSignals(sigs)
	<-caught // the first command waits for the handlers (catchSignals)
	s.countThreads()

	// A live sandbox: the launcher thread starts the commands as they
	// come, while others run (live.go), until the host goes.
	if s.spec.Live {
		return s.launcher.run(s.serveLive)
	}

	// The runs: the launcher thread, one run, or with Reuse one after
	// another until a step fails or the host goes.
	return s.launcher.run(func() int {
		if err := s.renewNamespaces(false); err != nil { // Reuse only
			return s.fail("", err)
		}
		for {
			s.ready()
			e, files, err := s.receiveExec()
			if errors.Is(err, io.EOF) {
				return 125 // the host is gone, or ended this sandbox
			}
			if err != nil {
				return s.fail("files", err)
			}
			copies, err := copiesIn(e, files, openDirNoSymlinks) // files.go: Exec.Files's copy in, before the command
			if err != nil {
				return s.failRun(e.Run, err)
			}
			pid, err := s.start(e, files) // the fork restricts itself with Landlock and execs
			if err != nil {
				return s.failRun(e.Run, err)
			}
			s.started(e.Run, pid)
			ex := s.reap(pid)
			killRest()
			ex.Run = e.Run
			copies.copiesOut(ex) // files.go: Exec.Files's copy out, all the run's processes dead
			s.exited(ex)
			if !s.spec.Reuse {
				return exitCode(ex)
			}
			if err := s.renewNamespaces(true); err != nil { // lo comes up from another thread
				return s.fail("reset", err)
			}
			if err := s.reset(); err != nil { // on another thread, unconfined
				return s.fail("reset", err)
			}
		}
	})
}

// state is what the init holds over its life.
type state struct {
	conn   *protocol.Conn // to the host; every message goes through send
	sendMu sync.Mutex     // one sender at a time: the launcher, and a live sandbox's reaper
	files  int            // the fd socket, on which each Exec comes with its files
	spec   *protocol.Spec

	// The spec's isolate values (readSpec).
	root       isolate.Root
	mounts     []isolate.Mount
	userCounts []isolate.UserCount
	rlimits    []isolate.Rlimit
	landlock   []isolate.LandlockRule

	src      *isolate.Sources // the mounts' sources, opened (openSources)
	staging  string           // where the new root is built (buildRoot)
	launcher *launcher
	built    *builtState  // what a reset returns the sandbox to (Reuse)
	running  atomic.Int64 // the command's pid, for signals, 0 between runs
	live     *liveRuns    // a live sandbox's running commands (Spec.Live), else nil

	// hostFiles are the fds the host asked for, in the order it reads
	// them (protocol.SendHostFiles): the TAP of Spec.Link (linkUp), then
	// the listener of Spec.Notify (installFilter). Sent and closed once
	// the filter is in place, before the first Ready.
	hostFiles []int

	// The launcher thread's own.
	rules   *isolate.Ruleset // the Landlock filesystem rules, nil without
	threads int              // the init's threads when it began to serve
	netBase []byte           // netState after the last renewal (renewNamespaces)
	nproc   uint64           // the RLIMIT_NPROC the commands get (degraded Pids), once set
	applied []isolate.Rlimit // the limits the last start set on the init itself
}

// inOrder runs steps in order until one fails, and returns its error.
func inOrder(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// fail reports err to the host as the failure of step (its own when "")
// and returns the init's exit code.
func (s *state) fail(step string, err error) int {
	f := failure(err)
	if step != "" {
		f = &protocol.Failed{Step: step, Message: err.Error()}
	}
	s.send(protocol.Message{Failed: f})
	return 125
}

// failRun reports err as the failure of run's command to start, and
// returns the init's exit code.
func (s *state) failRun(run int, err error) int {
	f := failure(err)
	f.Run = run
	s.send(protocol.Message{Failed: f})
	return 125
}

// send sends m to the host, one sender at a time.
func (s *state) send(m protocol.Message) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.conn.Send(m)
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
