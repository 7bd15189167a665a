package sandbox

// One booted sandbox: its init, the sockets to it, its resources, and
// their teardown. A run (Process) borrows one; the pool holds them.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// booted is one booted sandbox: its init (pid 1 inside), started by
// Sandbox.boot and sent the spec. It owns
//   - the init process, which it kills and reaps;
//   - the protocol socket and its Conn, and the mutex every message sent
//     on it (and every Exec on the fd socket) goes through;
//   - the fd socket, on which each command goes with its files;
//   - the resources that bound it (the cgroup, or the rlimits that stand
//     in for it), which it releases;
//   - its place in the pool, while a run holds a booted sandbox taken from it.
//
// The init's messages are read by one goroutine for the booted sandbox's whole
// life (read), and route decides, in one place, where each goes: the
// init's answers to the spec or to a reset (Ready, or Failed before
// Ready) to the booted sandbox's user, through answers; a command's (Started,
// Failed, Exited, each with the run's id) to the run it belongs to. A run
// attaches itself before it sends its command, which gives it its id (the
// host chooses it; the init only echoes it), and is detached by its Exited,
// or when the init closes its socket.
//
// A booted sandbox for Run serves one run at a time: a run borrows it (from
// the pool, or freshly booted) and gives it back when its Wait ends
// (release): back to the pool after a reset (Options.Reuse), retired in
// the background (a pool), or torn down. A live one (live, for a Box)
// serves any number of runs at once, each attached under its own id; its
// Box, not the runs, ends it. Sending goes through the booted sandbox
// (send, sendExec, under sendMu), and the routing all happens in route.
type booted struct {
	sb     *Sandbox         // whose options built it, and whose pool it goes back to
	init   *exec.Cmd        // the sandbox's pid 1
	sock   *os.File         // the protocol socket (host end)
	conn   *protocol.Conn   // messages on sock
	files  *os.File         // the fd socket (host end): each Exec with its files
	sendMu sync.Mutex       // one sender at a time on sock and files
	termMu sync.Mutex       // one receiver of pty masters at a time on files (terminal)
	terms  map[int]*os.File // masters received for other runs than the receiver's, by run
	res    *resources

	// readyTaken: the init's Ready for the current state (built or reset)
	// has been taken from answers. Used by one goroutine at a time: the
	// booting one, the filler, the run starting, the recycler.
	readyTaken bool
	// refill has the booted sandbox's place in the pool refilled with a new
	// sandbox (once); nil unless a run took the booted sandbox from the pool.
	refill func()

	reapOnce sync.Once
	waitErr  error // the init's Wait, once reaped

	live bool // a Box's: runs at once, none ends the sandbox (Spec.Live)

	image *bootImage // Options.Image: the image the sandbox runs on, closed once it is reaped

	net egressNet // NetworkEgress: the network, which ends with the sandbox (reap)

	// Filled by read and route:
	answers   chan protocol.Message // Ready or Failed for the spec or a reset (room for answersMax); closed when reading ends
	mu        sync.Mutex            // guards what follows
	runs      map[int]*Process      // the runs the init's messages about a command go to, by id
	lastRun   int                   // the last run id given out (attach)
	readySent bool                  // the init has sent Ready, and (unless live) no command has ended since
	readErr   error                 // why reading ended (io.EOF: the init closed its socket), nil while it goes on
	denials   *denials              // answers and reports the filter's refusals (Options.Denials), once received
	reaped    bool                  // reap has begun: no more host files are put to use

	// hostFiles has takeHostFiles's result, nil when the spec asks the init
	// for no files; read takes it at the first Ready (hostFilesTaken).
	hostFiles      chan error
	hostFilesTaken bool
	hostFilesErr   error // takeHostFiles's error, set before its Failed is routed
}

func newBooted(sb *Sandbox, init *exec.Cmd, sock, files *os.File, res *resources) *booted {
	return &booted{sb: sb, init: init, sock: sock, conn: protocol.NewConn(sock), files: files, res: res,
		answers: make(chan protocol.Message, answersMax), runs: map[int]*Process{}}
}

// answersMax is how many of the init's answers can wait to be taken: a
// cold run sends its command before it takes the set-up's answer, and a
// reusable init may have run it and reset the sandbox by then. No more can
// come before the host sends another command, which it does only once it
// has taken them.
const answersMax = 2

// read collects the init's messages until it closes its socket, handing
// each to route; then it ends the attached runs, if any.
func (b *booted) read() {
	for {
		m, err := b.conn.Recv()
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, p := range b.runs {
				delete(b.runs, id)
				p.detached()
			}
			b.mu.Unlock()
			close(b.answers)
			return
		}
		if m.Ready != nil && b.hostFiles != nil && !b.hostFilesTaken {
			// Sent before Ready: their receiver is done or about to be.
			b.hostFilesTaken = true
			if err := <-b.hostFiles; err != nil {
				b.hostFilesErr = err // answer returns it as it is, for errors.Is
				m = protocol.Message{Failed: &protocol.Failed{Step: "files", Message: err.Error()}}
			}
		}
		b.route(m)
	}
}

// route delivers m to whom it concerns: the only place that knows which
// of the init's messages are the booted sandbox's and which a run's. The
// buffers hold every message the protocol lets come before its reader
// takes it (answersMax answers; Started or Failed, then Exited), so route
// never blocks. An init that sends more has broken the protocol: it is
// killed, rather than leave a waiter without the message it waits for.
func (b *booted) route(m protocol.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ok := true
	switch {
	case m.Ready != nil:
		b.readySent = true
		ok = post(b.answers, m)
	case m.Failed != nil && m.Failed.Run == 0 && (!b.readySent || len(b.runs) == 0):
		ok = post(b.answers, m) // the set-up or a reset failed
	case m.Failed != nil && m.Failed.Run == 0:
		// An Exec that did not arrive whole: the init exits after it,
		// and each waiting run takes it as its own failure.
		for _, p := range b.runs {
			ok = post(p.msgs, m) && ok
		}
	default:
		id := runID(m)
		p := b.runs[id]
		switch {
		case p == nil:
			// A command's message with no run attached: never sent.
		case m.Exited != nil:
			ok = post(p.msgs, m)
			delete(b.runs, id)
			if !b.live {
				b.readySent = false // a reusable init resets now, then answers
			}
			p.detached()
		default: // Started, or Failed for the command
			ok = post(p.msgs, m)
		}
	}
	if !ok && b.init != nil {
		b.init.Process.Kill()
	}
}

// runID is the run a message about a command is for.
func runID(m protocol.Message) int {
	switch {
	case m.Started != nil:
		return m.Started.Run
	case m.Failed != nil:
		return m.Failed.Run
	case m.Exited != nil:
		return m.Exited.Run
	}
	return 0
}

// post puts m in c and reports true, or false when c is full.
func post(c chan protocol.Message, m protocol.Message) bool {
	select {
	case c <- m:
		return true
	default:
		return false
	}
}

// attach gives p a run id and makes p the run the init's messages about
// that id go to, before p's command is sent. If the init is gone already,
// p is ended at once.
func (b *booted) attach(p *Process) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastRun++
	p.run = b.lastRun
	if b.readErr != nil {
		p.detached()
		return
	}
	if b.runs == nil {
		b.runs = map[int]*Process{}
	}
	b.runs[p.run] = p
}

// send sends m to the init.
func (b *booted) send(m protocol.Message) error {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	return b.conn.Send(m)
}

// sendExec sends the init e with its files, on the fd socket.
func (b *booted) sendExec(e *protocol.Exec, files []*os.File) error {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	return protocol.SendExec(b.files, e, files)
}

// awaitReady waits for the init to report the sandbox built or reset
// (once for each).
func (b *booted) awaitReady() error {
	if b.readyTaken {
		return nil
	}
	m, ok := <-b.answers
	if err := b.answer(m, ok); err != nil {
		return err
	}
	if m.Ready == nil {
		return b.fail(fmt.Errorf("sandbox: init answered the spec with an unexpected message"))
	}
	b.readyTaken = true
	return nil
}

// errInitExited is the cause of the SetupError (Step "init") that says the
// init exited before it answered: a pooled one killed while it waited,
// say, and then Run starts a fresh one.
var errInitExited = errors.New("the sandbox init exited")

// answer turns m, the init's answer taken from a channel that route fills
// (ok false: the channel was closed, reading has ended), into an error
// when it is a failure, or when the init died (then the init has been
// reaped and the host's ends closed).
func (b *booted) answer(m protocol.Message, ok bool) error {
	if !ok {
		if err := b.readError(); err != io.EOF {
			return b.fail(fmt.Errorf("sandbox: read from init: %w", err))
		}
		b.reap()
		return &SetupError{Step: "init", cause: errInitExited, Message: "the sandbox init exited during set-up (" +
			b.init.ProcessState.String() + "); is sandbox.Main called first in main?"}
	}
	if f := m.Failed; f != nil {
		if f.Step == "files" && b.hostFilesErr != nil { // set before m was sent on answers
			return b.fail(b.hostFilesErr)
		}
		msg := f.Message
		if f.Step == "link" && msg == "" {
			msg = linkHint(f.Path, syscall.Errno(f.Errno))
		}
		if f.Step == "copy image" && msg == "" && syscall.Errno(f.Errno) == syscall.ENOSPC {
			msg = imageCopyHint
		}
		return b.fail(&SetupError{Step: f.Step, Path: f.Path, Errno: syscall.Errno(f.Errno), Message: msg})
	}
	return nil
}

// readError returns why reading ended (io.EOF: the init closed its
// socket), or nil while it goes on.
func (b *booted) readError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readErr
}

// initExited reports whether err says the init was gone before it
// answered (it exited, or the socket to it was closed).
func initExited(err error) bool {
	return errors.Is(err, errInitExited) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// kill kills the whole sandbox at once: the init and with it, by the
// kernel's pid-namespace rules, every process inside, and everything in
// the cgroup too.
func (b *booted) kill() error {
	err := b.init.Process.Kill()
	if b.res.cg != nil {
		b.res.cg.Kill()
	}
	return err
}

// reap waits for the init to exit (once) and closes the host's ends of the
// sockets; it returns the init's Wait error.
func (b *booted) reap() error {
	b.reapOnce.Do(func() {
		b.waitErr = b.init.Wait()
		b.image.close() // the init, and with it every mount of the image, is gone
		b.net.close()
		b.sock.Close()
		b.files.Close()
		b.closeTerminals()
		b.mu.Lock()
		b.reaped = true
		d := b.denials
		b.mu.Unlock()
		if d != nil {
			d.stop()
		}
	})
	return b.waitErr
}

// fail kills the init, reaps it and returns err.
func (b *booted) fail(err error) error {
	b.init.Process.Kill()
	b.reap()
	return err
}

// teardown ends what is left of the sandbox once its run is accounted for:
// it waits for the init to exit (if it still runs), closes the host's
// ends, and releases the resources.
func (b *booted) teardown() error {
	b.reap()
	return b.res.close()
}

// discard ends a sandbox that will run no (more) commands.
func (b *booted) discard() {
	b.fail(nil)
	b.res.close()
}

// release gives b back once the run that borrowed it is accounted for.
// reported says the init reported the run over (every process of it is
// dead); interrupted, that the run's context ended it. A reusable sandbox
// whose run was reported and not interrupted goes back to the pool after
// its reset; any other reusable one is killed. Then a reported run's
// pooled sandbox is torn down in the background (Close waits for it), and
// any other here; the error is the teardown's.
func (b *booted) release(reported, interrupted bool) error {
	s := b.sb
	reuse := reported && s.opts.Reuse
	if reuse && !interrupted && s.recycle(b) {
		return nil
	}
	if reuse {
		b.fail(nil) // not reusable after all (the pool closed, the context fired): its init waits for another run
	}
	if b.refill != nil {
		b.refill()
	}
	if reported && !reuse && s.pool != nil && s.retire(b) {
		return nil
	}
	return b.teardown()
}

// cpuTime returns the CPU time the init has used so far (every thread's),
// or false. The init, not reaped yet, still has its clock.
func (b *booted) cpuTime() (time.Duration, bool) {
	if b.init.Process == nil {
		return 0, false
	}
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) of the kernel's
	// posix-timers.h: the whole process, in ns.
	clock := int32(^b.init.Process.Pid<<3 | 2)
	var ts unix.Timespec
	if unix.ClockGettime(clock, &ts) != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
