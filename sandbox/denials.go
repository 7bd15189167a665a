package sandbox

// Options.Denials: the calls the filter refuses, answered and reported by
// this process (host side).
//
// With Denials set, the filter each init installs is the profile's with
// every refusal (an errno: the rules', the default action's, the ENOSYS of
// calls newer than the compiler) made a seccomp user notification
// (internal/seccomp's Notify); kills stay kills. The init installs it with
// a listener and sends the listener here at once, before its first Ready
// (one per booted sandbox: every run of a pooled, reused or live sandbox
// shares it). One goroutine per booted sandbox receives the notifications,
// reports each and answers it with the errno the profile gives that very
// call (the compiled profile run on it, by Answers). It ends
// when the sandbox does (reap).
//
// The goroutine waits for notifications in blocking system calls, on a
// thread of its own while it waits: the runtime's poller (epoll, then the
// scheduler) added a wake-up to every refused call, which doubled its
// cost. It waits in poll(2), not in the receiving ioctl, because poll
// also wakes when the filter has no users left (POLLHUP), on every kernel
// with user notification; before Linux 6.6 a receive blocked then would
// block for ever.

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"time"

	filter "github.com/corral-dev/corral/internal/seccomp"
	"golang.org/x/sys/unix"
)

// denials serves one booted sandbox's listener.
type denials struct {
	f       *os.File // the listener, in blocking mode
	answers *filter.Answers
	report  func(Denial)
	done    chan struct{} // closed when serve returns

	// The last caller's pids (sandboxPid), the host's and the sandbox's,
	// and when the host's was read; serve's own.
	lastTid uint32
	lastPid int
	lastAt  time.Time
}

// startDenials starts answering the notifications of listener with
// answers' errnos and reporting them to report, until the filter has no
// users left.
func startDenials(listener *os.File, answers *filter.Answers, report func(Denial)) *denials {
	d := &denials{f: listener, answers: answers, report: report, done: make(chan struct{})}
	fd := listener.Fd() // blocking from here on
	// The kernel wakes the caller and this goroutine on the CPU that
	// answers or notifies, where it can (Linux 6.6); an older kernel
	// refuses the flag, and answers all the same.
	notifSyncWakeUp(fd)
	go d.serve(fd)
	return d
}

// stop waits for serve to end, which it does once the sandbox's processes
// are gone (reap calls it after the init's Wait): no more Denials calls
// come from d after it.
func (d *denials) stop() {
	<-d.done
}

// serve answers the notifications on fd until the filter has no users
// left. It closes the listener as it returns: if it ever stopped early (an
// error the kernel does not document), the refused calls would fail with
// ENOSYS, the kernel's answer without a listener, rather than wait for
// ever.
func (d *denials) serve(fd uintptr) {
	defer close(d.done)
	defer d.f.Close()
	for {
		if err := awaitNotif(fd); err != nil {
			return // io.EOF: no users left
		}
		if err := d.answer(fd); err != nil && !errors.Is(err, unix.ENOENT) {
			return
		}
	}
}

// awaitNotif waits until a notification is pending on fd; io.EOF: the
// filter has no users left.
func awaitNotif(fd uintptr) error {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(p, -1)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case p[0].Revents&unix.POLLIN != 0:
			return nil
		case p[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0:
			return io.EOF
		}
	}
}

// answer receives the pending notification on fd, reports it and answers
// it with the profile's errno. It reports before it answers, so that a
// refusal is reported before the refused call returns: by the time the
// run that made it has ended (Wait), and whether its sandbox is torn down
// then or goes back to a pool. ENOENT: the call was withdrawn before it
// was received (its caller was interrupted, and will call again after the
// signal handler, or was killed), or before it was answered (killed;
// before Linux 5.19 also interrupted, and reported again as it calls
// again).
func (d *denials) answer(fd uintptr) error {
	var n notif
	if err := notifRecv(fd, &n); err != nil {
		return err
	}
	now := time.Now()
	errno, ok := d.answers.Errno(n.data)
	if !ok {
		// Only the profile's refusals notify; should another ever come,
		// it is refused all the same.
		errno = unix.EPERM
	}
	den := Denial{Time: now, Pid: d.sandboxPid(fd, &n, now), Nr: int(n.data.Nr), Args: n.data.Args, Errno: errno}
	den.Arch, den.Syscall = filter.Name(n.data.Arch, n.data.Nr)
	d.report(den)
	return notifSend(fd, n.id, errno)
}

// pidReuse bounds how long sandboxPid trusts what it read last: the host
// can give a thread's id to another only once it has handed out every
// other id up to pid_max (32768 at least) since, which no machine does in
// this time.
const pidReuse = 10 * time.Millisecond

// sandboxPid returns the pid inside the sandbox of the process whose
// thread (n.pid, in this process's pid namespace) made the call n, or 0.
// It reads it while the call waits for its answer, and NOTIF_ID_VALID
// after the read says the caller was still the one that made it. A burst
// of refusals from one thread reads it once (pidReuse): the read costs
// more than the rest of an answer.
func (d *denials) sandboxPid(fd uintptr, n *notif, now time.Time) int {
	if n.pid == d.lastTid && now.Sub(d.lastAt) < pidReuse {
		d.lastAt = now
		return d.lastPid
	}
	pid := nsTgid(n.pid)
	if !notifValid(fd, n.id) {
		return 0
	}
	d.lastTid, d.lastPid, d.lastAt = n.pid, pid, now
	return pid
}

// nsTgid returns the pid, in its innermost pid namespace, of the process
// whose thread is tid in this process's, from /proc/<tid>/status
// (NStgid); 0 if it cannot be read.
func nsTgid(tid uint32) int {
	fd, err := unix.Open("/proc/"+strconv.FormatUint(uint64(tid), 10)+"/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	var buf [2048]byte // NStgid is among the first lines
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return 0
	}
	for line := range bytes.Lines(buf[:n]) {
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
