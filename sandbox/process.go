package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
)

// Process is a command running in a sandbox.
//
// It is one run: the command's stdio and the copies of its output, the
// host's watchers of its limits and of its context, and its Result. The
// sandbox it runs in (the init, the sockets to it, the cgroup) is box,
// which the run borrows, freshly booted or from the pool, and gives back
// when Wait ends (booted.release).
type Process struct {
	box    *booted   // the booted sandbox the command runs in
	boxed  *Box      // the Box the command was Exec'd into, else nil (Run)
	counts boxCounts // the Box's cgroup counters when the command started (boxed)
	run    int       // the run's id on the wire (booted.attach)
	cmdPid int       // the command's pid in the sandbox, from Started
	warm   bool      // box was taken from the pool
	start  time.Time
	// The init's CPU clock as the command started, and its CPU time over
	// the run (see initSpent).
	initCPU0, initUsed time.Duration
	initCPUOK          bool

	// From box's reader: Started or Failed, then Exited. msgs and gone
	// are closed once the run is over for the init (its Exited is in
	// msgs), or the init is gone.
	msgs chan protocol.Message
	gone chan struct{}
	done chan struct{} // closed when Wait has finished

	stopWatch func() bool

	// Cmd.CopyIn (copy.go): our end of its pipe, and why reading it
	// failed (set before the pipe's end is closed).
	copyIn    *os.File
	copyInErr atomic.Pointer[error]

	stdin      *os.File   // our end of the command's stdin pipe, when Cmd.Stdin is not a file
	childStdio []*os.File // the init's ends of the stdio pipes, until sent
	term       *os.File   // the master of the command's terminal (Cmd.TTY), closed by Wait
	copies     sync.WaitGroup
	outReaders []*os.File            // the host's ends of the output pipes, which Wait closes after a Box's grace
	cutOff     atomic.Bool           // Wait closed them (waitBoxed)
	copyErr    atomic.Pointer[error] // the first error copying output to Cmd.Stdout or Stderr
	out        *outputCap            // nil without Limits.Output
	lim        Limits

	// killMu orders the host's watchers (limits, context) against Wait:
	// a watcher kills under it, and only while the run has not been
	// accounted for, so no watcher touches the sandbox (its cgroup) after
	// Wait has begun to give it back.
	killMu sync.Mutex
	ended  bool   // Wait has accounted for the run
	limit  string // the host-enforced limit that ended the run, if any
	ctxErr error  // the context's error, if the context ended the run

	waitOnce sync.Once
	result   *Result
	err      error
}

func newProcess(box *booted, start time.Time) *Process {
	return &Process{
		box: box, start: start,
		msgs: make(chan protocol.Message, 2), gone: make(chan struct{}), done: make(chan struct{}),
		stopWatch: func() bool { return true },
	}
}

// detached is called by box's reader, once, when the run is over for the
// init or the init is gone: nothing more will come for it.
func (p *Process) detached() {
	close(p.msgs)
	close(p.gone)
}

// exited returns the init's report of the run's end, or nil when the init
// died without one.
func (p *Process) exited() *protocol.Exited {
	for m := range p.msgs {
		if m.Exited != nil {
			return m.Exited
		}
	}
	return nil
}

// closeStdin closes the host's end of the command's stdin pipe: the copy
// from Cmd.Stdin ends at its next write.
func (p *Process) closeStdin() {
	if p.stdin != nil {
		p.stdin.Close()
	}
	if p.copyIn != nil {
		p.copyIn.Close()
	}
}

// watch kills the sandbox (in a Box, the command) when ctx is cancelled.
func (p *Process) watch(ctx context.Context) {
	p.stopWatch = context.AfterFunc(ctx, func() {
		p.killMu.Lock()
		defer p.killMu.Unlock()
		if !p.ended {
			p.ctxErr = ctx.Err()
			p.killCommand()
		}
	})
}

// killCommand kills what the run's own limits, context and Kill end: the
// whole sandbox, or in a Box the command and its process group (the Box
// and its other commands go on). Called with killMu held.
func (p *Process) killCommand() error {
	if p.boxed != nil {
		return p.signalCommand(syscall.SIGKILL)
	}
	return p.box.kill()
}

// signalCommand asks the init to send sig to the command's process group.
func (p *Process) signalCommand(sig syscall.Signal) error {
	if err := p.box.send(protocol.Message{Signal: &protocol.Signal{Run: p.run, Signal: int(sig), Pid: p.cmdPid}}); err != nil {
		return os.ErrProcessDone
	}
	return nil
}

// end stops the host's watchers from killing (they may be running right
// now: end waits for them), fills in r's accounting when r is not nil, and
// returns the context's error if the context ended the run.
func (p *Process) end(r *Result) error {
	p.killMu.Lock()
	defer p.killMu.Unlock()
	p.ended = true
	if r != nil {
		p.account(r)
	}
	return p.ctxErr
}

// Pid returns the host pid of the sandbox's init process (pid 1 inside the
// sandbox); the command runs as its child. With a pool the init may
// outlive Wait: briefly, as the sandbox is torn down after it, or with
// Options.Reuse to serve another run.
func (p *Process) Pid() int { return p.box.init.Process.Pid }

// Signal sends sig to the command (and its process group). SIGKILL kills
// the whole sandbox, as Kill does; in a Box, only the command and its
// process group. After the sandbox has exited it returns
// os.ErrProcessDone; in a Box, once the command has exited.
func (p *Process) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("sandbox: unsupported signal %v", sig)
	}
	if s == syscall.SIGKILL {
		return p.Kill()
	}
	// Under killMu, as Kill: once Wait has accounted for the run, the
	// booted sandbox may be serving the next run (Reuse).
	p.killMu.Lock()
	defer p.killMu.Unlock()
	if p.ended || p.boxedExited() {
		return os.ErrProcessDone
	}
	return p.signalCommand(s)
}

// Kill kills the whole sandbox at once: its init and with it, by the
// kernel's pid-namespace rules, every process inside (and, with a cgroup,
// everything in the cgroup too). In a Box it kills the command and its
// process group only; the Box goes on, and so does what the command
// started in a process group of its own (setsid).
func (p *Process) Kill() error {
	// Once Wait has accounted for the run (ended), the booted sandbox is
	// no longer the run's: it may be back in the pool, or serving the next
	// run (Reuse), or its cgroup removed.
	p.killMu.Lock()
	defer p.killMu.Unlock()
	if p.ended || p.boxedExited() {
		return os.ErrProcessDone
	}
	return p.killCommand()
}

// boxedExited reports whether p's command, Exec'd into a Box, has exited
// (or the Box has ended): no signal can reach it any more.
func (p *Process) boxedExited() bool {
	if p.boxed == nil {
		return false
	}
	select {
	case <-p.gone:
		return true
	default:
		return false
	}
}

// Wait waits for the command to exit and for its output to be copied, and
// returns how it ended. A command that exits non-zero or is killed is not an
// error: see Result. The error is non-nil when the sandbox failed, or when
// the context given to RunContext ended it (then it wraps ctx.Err() and the
// Result is still returned). For a command Exec'd into a Box, see
// Box.ExecContext.
func (p *Process) Wait() (*Result, error) {
	if p.boxed != nil {
		p.waitOnce.Do(p.waitBoxed)
		return p.result, p.err
	}
	p.waitOnce.Do(func() {
		b := p.box
		ex := p.exited() // nil when the init died without a report
		p.initUsed = p.initSpent()
		wall := time.Since(p.start)
		// A report means every process of the run is dead. A reusable
		// sandbox's init lives on for the next run; with a pool, whose
		// Close waits for it, the rest of any other sandbox (the init's
		// exit, the namespaces, the cgroup) goes off Wait's path. Else the
		// init ends with its sandbox, here.
		kept := ex != nil && (b.sb.opts.Reuse || b.sb.pool != nil)
		b.net.close() // NetworkEgress: the run's network ends with it (never with Reuse)
		var werr error
		var ps *os.ProcessState
		if !kept {
			werr = b.reap()
			wall = time.Since(p.start)
			ps = b.init.ProcessState
		}
		p.closeStdin()
		p.stopWatch()
		// Every process of the run is dead, and with them every write end
		// of the output pipes: the copies are at EOF.
		p.copies.Wait()
		p.closeTerminal()
		p.result = newResult(ex, ps, wall)
		ctxErr := p.end(p.result)
		cerr := b.release(ex != nil, ctxErr != nil)
		switch {
		case ctxErr != nil:
			p.err = fmt.Errorf("sandbox: killed: %w", ctxErr)
		case werr != nil && !isExitError(werr):
			p.err = fmt.Errorf("sandbox: %w", werr)
		case cerr != nil:
			p.err = cerr
		case ex != nil && ex.CopyOut != nil:
			p.err = copyFailed(ex.CopyOut, "Cmd.CopyOut")
		case p.copyErr.Load() != nil:
			p.err = fmt.Errorf("sandbox: copying output: %w", *p.copyErr.Load())
		}
		close(p.done)
	})
	return p.result, p.err
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}
