package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
)

// Process is a command running in a sandbox.
type Process struct {
	init  *exec.Cmd // the sandbox's pid 1
	sock  *os.File
	conn  *protocol.Conn
	start time.Time

	sendMu sync.Mutex
	exited chan *protocol.Exited // the init's last word, if any
	done   chan struct{}         // closed when Wait has finished

	stopWatch func() bool
	ctxErr    error // set by the context watcher before it kills

	stdin *os.File // our end of the command's stdin pipe, when Cmd.Stdin is not a file
	res   *resources
	out   *outputCap // nil without Limits.Output
	lim   Limits
	gone  chan struct{} // closed when the init's socket closes: the sandbox ended
	limMu sync.Mutex
	limit string // the host-enforced limit that ended the run, if any

	waitOnce sync.Once
	result   *Result
	err      error
}

func newProcess(init *exec.Cmd, sock *os.File, start time.Time, res *resources, out *outputCap, lim Limits) *Process {
	return &Process{
		init: init, sock: sock, conn: protocol.NewConn(sock), start: start,
		exited: make(chan *protocol.Exited, 1), done: make(chan struct{}),
		res: res, out: out, lim: lim, gone: make(chan struct{}),
	}
}

// abort ends a sandbox whose set-up failed on the host side.
func (p *Process) abort() {
	if p.stdin != nil {
		p.stdin.Close()
	}
	p.stopWatch()
	p.init.Process.Kill()
	p.init.Wait()
	p.sock.Close()
}

// handshake sends the spec and waits for the command to start.
func (p *Process) handshake(spec *protocol.Spec) error {
	fail := func(err error) error {
		p.init.Process.Kill()
		p.init.Wait()
		p.closeHost()
		return err
	}
	if err := p.conn.Send(protocol.Message{Spec: spec}); err != nil {
		return fail(fmt.Errorf("sandbox: send spec to init: %w", err))
	}
	m, err := p.conn.Recv()
	switch {
	case err == io.EOF:
		p.init.Wait()
		p.closeHost()
		return &SetupError{Step: "init", Message: "the sandbox init exited during set-up (" +
			p.init.ProcessState.String() + "); is sandbox.Main called first in main?"}
	case err != nil:
		return fail(fmt.Errorf("sandbox: read from init: %w", err))
	case m.Failed != nil:
		f := m.Failed
		return fail(&SetupError{Step: f.Step, Path: f.Path, Errno: syscall.Errno(f.Errno), Message: f.Message})
	case m.Started == nil:
		return fail(errors.New("sandbox: init answered the spec with an unexpected message"))
	}
	go p.read()
	return nil
}

// closeHost closes the host's ends of the socket and of the stdin pipe.
func (p *Process) closeHost() {
	p.sock.Close()
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
		p.sendMu.Lock()
		p.ctxErr = ctx.Err()
		p.sendMu.Unlock()
		p.Kill()
	})
}

// contextErr returns the context's error if the context killed the sandbox.
func (p *Process) contextErr() error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.ctxErr
}

// Pid returns the host pid of the sandbox's init process (pid 1 inside the
// sandbox); the command runs as its child.
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
	if err := p.conn.Send(protocol.Message{Signal: &protocol.Signal{Signal: int(s)}}); err != nil {
		return os.ErrProcessDone
	}
	return nil
}

// Kill kills the whole sandbox at once: its init and with it, by the
// kernel's pid-namespace rules, every process inside (and, with a cgroup,
// everything in the cgroup too).
func (p *Process) Kill() error {
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
		werr := p.init.Wait()
		wall := time.Since(p.start)
		if p.stdin != nil {
			p.stdin.Close() // the copy from Cmd.Stdin ends at its next write
		}
		if p.stopWatch != nil {
			p.stopWatch()
		}
		ex := <-p.exited
		p.sock.Close()
		p.result = newResult(ex, p.init.ProcessState, wall)
		p.account(p.result)
		cerr := p.res.close()
		ctxErr := p.contextErr()
		switch {
		case ctxErr != nil:
			p.err = fmt.Errorf("sandbox: killed: %w", ctxErr)
		case werr != nil && !isExitError(werr):
			p.err = fmt.Errorf("sandbox: %w", werr)
		case cerr != nil:
			p.err = cerr
		}
		close(p.done)
	})
	return p.result, p.err
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}
