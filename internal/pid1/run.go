package pid1

// The steps of one run, on the launcher thread, but for start (start.go)
// and the reset (reuse.go, renew.go).

import (
	"os"

	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// countThreads counts the init's threads, for the RLIMIT_NPROC of the
// commands (start): on an unconfined thread (the launcher's confinement
// may keep /proc from it), once the init's goroutines have their threads.
func (s *state) countThreads() {
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		s.threads = len(tasks)
	}
}

// ready reports the sandbox ready for its command. A pooled sandbox then
// waits for it. (It does not force a GC to give memory back while it
// waits: measured, the GC's own pages made an idle init bigger, 1.67 MiB
// private against 1.33.) Nothing is primed meanwhile: the wire's codec
// (protocol's wire.go) builds no caches on first use, as JSON's did.
func (s *state) ready() {
	s.send(protocol.Message{Ready: &protocol.Ready{}})
}

// receiveExec waits for the command and its files on the fd socket.
// io.EOF means the host is gone, or ended this sandbox.
func (s *state) receiveExec() (*protocol.Exec, []int, error) {
	return protocol.RecvExec(s.files)
}

// started notes the command's pid, for the signals forwarded to it, and
// reports run's command started.
func (s *state) started(run, pid int) {
	s.running.Store(int64(pid))
	s.send(protocol.Message{Started: &protocol.Started{Run: run, Pid: pid}})
}

// reap waits for every child (orphans are re-parented to us) until the
// command itself exits, and reports how it ended. From then on no signal
// is forwarded to its pid.
func (s *state) reap(pid int) *protocol.Exited {
	defer s.running.Store(0)
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
		return exitedFrom(ws, &ru)
	}
}

// exitedFrom is the report of a command that ended with ws and used ru.
func exitedFrom(ws unix.WaitStatus, ru *unix.Rusage) *protocol.Exited {
	ex := &protocol.Exited{
		ExitCode:   ws.ExitStatus(),
		UserUsec:   ru.Utime.Nano() / 1e3, // Nano: the fields are 32 bits on 386 and arm
		SystemUsec: ru.Stime.Nano() / 1e3,
		MaxRSS:     int64(ru.Maxrss) * 1024,
	}
	if ws.Signaled() {
		ex.ExitCode, ex.Signal = -1, int(ws.Signal())
	}
	return ex
}

// killRest kills every process of the sandbox but the init and reaps
// them. Nothing of the run outlives its report: the host may return from
// Wait on it and end the sandbox (or reuse it) afterwards.
func killRest() {
	unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if err == unix.ECHILD {
			return
		}
	}
}

// exited reports how the command ended.
func (s *state) exited(ex *protocol.Exited) {
	s.send(protocol.Message{Exited: ex})
}

// exitCode is the init's exit code for a command that ended as ex: its
// exit code, or 128 plus the signal that killed it.
func exitCode(ex *protocol.Exited) int {
	if ex.Signal != 0 {
		return 128 + ex.Signal
	}
	return ex.ExitCode
}
