package pid1

// The steps of one run, on the launcher thread, but for start (start.go)
// and the reset (reuse.go, renew.go).

import (
	"encoding/json"
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
// private against 1.33.) The first time, unless the command is waiting
// already, it primes the codecs meanwhile (primeCodecs).
func (s *state) ready() {
	s.send(protocol.Message{Ready: &protocol.Ready{}})
	if !s.primed && !commandWaiting(s.files) {
		primeCodecs()
	}
	s.primed = true
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
