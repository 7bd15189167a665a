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
type Process struct {
	init    *exec.Cmd // the sandbox's pid 1
	sock    *os.File
	conn    *protocol.Conn
	files   *os.File // the fd socket, for each command and its files
	isReady bool     // the init has reported the sandbox built
	cmdPid  int      // the command's pid in the sandbox, from Started
	warm    bool     // taken from the pool
	owner   *Sandbox // whose pool a reusable sandbox goes back to
	slot    func()   // for a warm run: has its place in the pool refilled (once)
	start   time.Time
	// The init's CPU clock as the command started, and its CPU time over
	// the run (see initCPU).
	initCPU0, initUsed time.Duration
	initCPUOK          bool

	sendMu sync.Mutex
	exited chan *protocol.Exited // the init's last word, if any
	done   chan struct{}         // closed when Wait has finished

	stopWatch func() bool

	stdin      *os.File   // our end of the command's stdin pipe, when Cmd.Stdin is not a file
	childStdio []*os.File // the init's ends of the stdio pipes, until sent
	copies     sync.WaitGroup
	copyErr    atomic.Pointer[error] // the first error copying output to Cmd.Stdout or Stderr
	res        *resources
	out        *outputCap // nil without Limits.Output
	lim        Limits
	gone       chan struct{} // closed when the init's socket closes: the sandbox ended

	// killMu orders the host's watchers (limits, context) against Wait:
	// a watcher kills under it, and only while the run has not been
	// accounted for, so no watcher touches the sandbox (its cgroup) after
	// Wait has begun to tear it down.
	killMu sync.Mutex
	ended  bool   // Wait has accounted for the run
	limit  string // the host-enforced limit that ended the run, if any
	ctxErr error  // the context's error, if the context ended the run

	waitOnce sync.Once
	result   *Result
	err      error
}

func newProcess(init *exec.Cmd, sock *os.File, conn *protocol.Conn, files *os.File, start time.Time, res *resources) *Process {
	return &Process{
		init: init, sock: sock, conn: conn, files: files, start: start,
		exited: make(chan *protocol.Exited, 1), done: make(chan struct{}),
		res: res, gone: make(chan struct{}), stopWatch: func() bool { return true },
	}
}

// closeHost closes the host's ends of the sockets and of the stdin pipe.
func (p *Process) closeHost() {
	p.sock.Close()
	p.files.Close()
	if p.stdin != nil {
		p.stdin.Close()
	}
}

// read collects the init's messages until it closes the socket.
func (p *Process) read() {
	defer close(p.gone)
	defer close(p.exited)
	for {
		m, err := p.conn.Recv()
		if err != nil {
			return
		}
		if m.Exited != nil {
			p.exited <- m.Exited
			return
		}
	}
}

// watch kills the sandbox when ctx is cancelled.
func (p *Process) watch(ctx context.Context) {
	p.stopWatch = context.AfterFunc(ctx, func() {
		p.killMu.Lock()
		defer p.killMu.Unlock()
		if !p.ended {
			p.ctxErr = ctx.Err()
			p.Kill()
		}
	})
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
func (p *Process) Pid() int { return p.init.Process.Pid }

// Signal sends sig to the command (and its process group). SIGKILL kills
// the whole sandbox, as Kill does. After the sandbox has exited it returns
// os.ErrProcessDone.
func (p *Process) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("sandbox: unsupported signal %v", sig)
	}
	if s == syscall.SIGKILL {
		return p.Kill()
	}
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if err := p.conn.Send(protocol.Message{Signal: &protocol.Signal{Signal: int(s), Pid: p.cmdPid}}); err != nil {
		return os.ErrProcessDone
	}
	return nil
}

// Kill kills the whole sandbox at once: its init and with it, by the
// kernel's pid-namespace rules, every process inside (and, with a cgroup,
// everything in the cgroup too).
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return os.ErrProcessDone // Wait has removed the cgroup: nothing to touch
	default:
	}
	err := p.init.Process.Kill()
	if p.res.cg != nil {
		p.res.cg.Kill()
	}
	return err
}

// Wait waits for the command to exit and for its output to be copied, and
// returns how it ended. A command that exits non-zero or is killed is not an
// error: see Result. The error is non-nil when the sandbox failed, or when
// the context given to RunContext ended it (then it wraps ctx.Err() and the
// Result is still returned).
func (p *Process) Wait() (*Result, error) {
	p.waitOnce.Do(func() {
		ex := <-p.exited // nil when the init died without a report
		p.initUsed = p.initSpent()
		wall := time.Since(p.start)
		// The init reports only once every process of the run is gone; a
		// reusable sandbox's init lives on, any other's ends with its sandbox.
		reuse := ex != nil && p.owner != nil && p.owner.opts.Reuse
		// A report means every process of the run is dead. With a pool,
		// whose Close waits for it, the rest of the sandbox (the init's
		// exit, the namespaces, the cgroup) then goes off Wait's path.
		retire := !reuse && ex != nil && p.owner != nil && p.owner.pool != nil
		var werr error
		if !reuse && !retire {
			werr = p.init.Wait()
			wall = time.Since(p.start)
		}
		if p.stdin != nil {
			p.stdin.Close() // the copy from Cmd.Stdin ends at its next write
		}
		p.stopWatch()
		if !reuse && !retire {
			p.closeHost()
		}
		// Every process of the run is dead, and with them every write end
		// of the output pipes: the copies are at EOF.
		p.copies.Wait()
		p.result = newResult(ex, p.init.ProcessState, wall)
		ctxErr := p.end(p.result)
		var cerr error
		if !reuse || ctxErr != nil || !p.owner.recycle(p) {
			if reuse { // not reusable after all (the pool closed, the context fired)
				p.fail(nil)
			}
			if p.slot != nil {
				p.slot()
			}
			if !retire || !p.owner.retire(p) {
				cerr = p.teardown()
			}
		}
		switch {
		case ctxErr != nil:
			p.err = fmt.Errorf("sandbox: killed: %w", ctxErr)
		case werr != nil && !isExitError(werr):
			p.err = fmt.Errorf("sandbox: %w", werr)
		case cerr != nil:
			p.err = cerr
		case p.copyErr.Load() != nil:
			p.err = fmt.Errorf("sandbox: copying output: %w", *p.copyErr.Load())
		}
		close(p.done)
	})
	return p.result, p.err
}

// teardown ends what is left of p's sandbox once its run is accounted
// for: the init (if it still runs), the host's ends, the cgroup.
func (p *Process) teardown() error {
	if p.init.ProcessState == nil {
		p.init.Wait()
		p.closeHost()
	}
	return p.res.close()
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}
