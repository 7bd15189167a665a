package pid1

// The init's signals: those it catches and forwards to the command, and
// the launcher thread's mask.

import (
	"os"
	"os/signal"
	"syscall"

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

// catchSignals catches the signals before the command exists, so none it
// sends can reach the runtime's defaults: the forwarded ones arrive on
// sigs, for forwardSignals, and any other signal the command sends is
// swallowed: by default the Go runtime would crash on it and print its
// stacks into the command's stderr. Enabling a signal costs a round trip
// with the runtime's signal thread, 0.6 ms for all of them: it runs on a
// goroutine of its own alongside the set-up, which closes caught when it
// is done, and the first command waits for it.
func catchSignals() (sigs <-chan os.Signal, caught <-chan struct{}) {
	sigc := make(chan os.Signal, 16)
	done := make(chan struct{})
	go func() {
		signal.Notify(sigc, forwarded...)
		drain := make(chan os.Signal, 16)
		signal.Notify(drain, swallowed...)
		close(done)
		for range drain {
		}
	}()
	return sigc, done
}

// forwardSignals passes each signal of sigs on to the current command's
// process group, if a command runs.
func (s *state) forwardSignals(sigs <-chan os.Signal) {
	for sig := range sigs {
		if pid := s.running.Load(); pid > 0 {
			unix.Kill(-int(pid), sig.(syscall.Signal))
		}
	}
}

// forwardHostSignals reads the protocol socket from now on, for the host's
// Signal messages to the command: a Signal for an earlier run's pid
// reaches no later run. When the host is gone (or the pool closed) it ends
// the sandbox: exiting pid 1 makes the kernel kill everything left in it.
func (s *state) forwardHostSignals() {
	for {
		m, err := s.conn.Recv()
		if err != nil {
			os.Exit(125)
		}
		if m.Signal != nil && s.live != nil {
			s.live.signal(m.Signal.Run, syscall.Signal(m.Signal.Signal))
		} else if m.Signal != nil {
			if pid := s.running.Load(); pid > 0 && pid == int64(m.Signal.Pid) {
				unix.Kill(-int(pid), syscall.Signal(m.Signal.Signal))
			}
		}
	}
}

// blockSignals blocks every signal on the calling thread: the launcher's
// last step of confinement. The signal scope keeps the command, whose
// Landlock domain is nested in the launcher thread's, from signalling the
// init, this thread too. Where the kernel lacks the scope, and for a
// command with no domain of its own (LandlockOff), this thread blocks
// every signal besides, so that none the command sends its thread id
// wakes the init (signals to the init as a whole go to its other threads,
// the host's). Each fork unblocks them (start), for the command does not
// inherit a blocked mask. In a live sandbox (sandbox.Box) the commands
// share the launcher's domain, so the scope does not shield this thread
// from them: the mask does, but for the moment of each start, when a
// signal a command sends it is forwarded (to no run: nothing is marked
// running in a live sandbox) or dropped (discardPending).
//
// The fault signals are blocked too (SIGSEGV, SIGBUS, ...): a fault on
// this thread then kills the init at once, with no Go stack, and the host
// sees an init that died without a report; unblocked, a command could
// wake the init with them.
func blockSignals() error {
	all := unix.Sigset_t{}
	for i := range all.Val {
		all.Val[i] = ^all.Val[i] // every bit, whatever the word's width
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
