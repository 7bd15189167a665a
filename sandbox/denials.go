package sandbox

// Options.Denials: the calls the filter refuses, answered and reported by
// this process (host side).
//
// With Denials set, the filter each init installs is the profile's with
// every refusal (an errno: the rules', the default action's, the ENOSYS of
// calls newer than the compiler) made a seccomp user notification
// (internal/seccomp's Notify); kills stay kills. The init installs it with
// a listener and sends the listener here before its first Ready (one per
// booted sandbox: every run of a pooled, reused or live sandbox shares
// it). One goroutine per booted sandbox receives the notifications,
// answers each with the errno the profile gives that very call (the
// compiled profile run on it, by Answers), and then reports it. It ends
// when the sandbox does (reap).

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	filter "github.com/corral-dev/corral/internal/seccomp"
	"golang.org/x/sys/unix"
)

// denials serves one booted sandbox's listener.
type denials struct {
	f       *os.File // the listener, non-blocking, in the runtime's poller
	answers *filter.Answers
	report  func(Denial)
	done    chan struct{} // closed when serve returns
}

// startDenials starts answering the notifications of listener with
// answers' errnos and reporting them to report, until stop.
func startDenials(listener *os.File, answers *filter.Answers, report func(Denial)) *denials {
	d := &denials{f: listener, answers: answers, report: report, done: make(chan struct{})}
	go d.serve()
	return d
}

// stop ends serving: once the sandbox's processes are gone (the filter
// has no users left, and every call it held is answered or withdrawn),
// or at once when the listener is closed. It returns when no more
// Denials calls will come from d.
func (d *denials) stop() {
	d.f.Close()
	<-d.done
}

// serve answers notifications until the filter has no users left or the
// listener is closed; each answered one is reported after its answer, so
// that the caller does not wait for the report.
func (d *denials) serve() {
	defer close(d.done)
	raw, err := d.f.SyscallConn()
	if err != nil {
		return
	}
	for {
		var den Denial
		var answered bool
		var nerr error
		err := raw.Read(func(fd uintptr) bool {
			den, answered, nerr = d.next(fd)
			return !errors.Is(nerr, unix.EAGAIN)
		})
		if err == nil {
			err = nerr
		}
		switch {
		case answered:
			d.report(den)
		case err == nil, errors.Is(err, unix.ENOENT), errors.Is(err, unix.EINTR):
			// A call withdrawn before it was answered (its caller was
			// interrupted: it will be notified again after the signal
			// handler, or it was killed): nothing to report.
		default:
			return // io.EOF: no users left; os.ErrClosed: stopped
		}
	}
}

// next receives the listener fd's next notification, if one is pending,
// answers it and returns its Denial, and true. EAGAIN: none is pending
// (wait for the poller); io.EOF: the filter has no users left.
func (d *denials) next(fd uintptr) (Denial, bool, error) {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(p, 0); err != nil {
		return Denial{}, false, err
	}
	switch {
	case p[0].Revents&unix.POLLIN != 0:
	case p[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0:
		return Denial{}, false, io.EOF
	default:
		return Denial{}, false, unix.EAGAIN
	}
	var n notif
	if err := notifRecv(fd, &n); err != nil {
		return Denial{}, false, err
	}
	now := time.Now()
	errno, ok := d.answers.Errno(n.data)
	if !ok {
		// Only the profile's refusals notify; should another ever come,
		// it is refused all the same.
		errno = unix.EPERM
	}
	// The caller's pid inside, read while the call waits for its answer;
	// NOTIF_ID_VALID after the read says the caller was still the one
	// that made it.
	pid := sandboxPid(n.pid)
	if !notifValid(fd, n.id) {
		pid = 0
	}
	if err := notifSend(fd, n.id, errno); err != nil {
		return Denial{}, false, err // ENOENT: the caller was interrupted
	}
	den := Denial{Time: now, Pid: pid, Nr: int(n.data.Nr), Args: n.data.Args, Errno: syscall.Errno(errno)}
	den.Arch, den.Syscall = filter.Name(n.data.Arch, n.data.Nr)
	return den, true, nil
}

// sandboxPid returns the pid, inside its innermost pid namespace, of the
// process whose thread tid is (in this process's pid namespace), or 0.
func sandboxPid(tid uint32) int {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("NStgid:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			pid, _ := strconv.Atoi(string(f[len(f)-1]))
			return pid
		}
	}
	return 0
}
