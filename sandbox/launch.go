package sandbox

// Starting a sandbox, in two steps: boot starts the init and sends it the
// spec (a pool does this ahead of time), exec hands it the command.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// boot sends a new sandbox's init the spec and starts it with res. It does
// not wait for the init to build the sandbox: exec (or ready) does.
func (s *Sandbox) boot(res *resources) (*Process, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: socketpair: %w", err)
	}
	hostEnd := os.NewFile(uintptr(fds[0]), "corral-host")
	childEnd := os.NewFile(uintptr(fds[1]), "corral-init")
	defer childEnd.Close()
	hostFiles, childFiles, err := protocol.FilesSocketpair()
	if err != nil {
		hostEnd.Close()
		return nil, err
	}
	defer childFiles.Close()
	conn := protocol.NewConn(hostEnd)
	spec := s.spec()
	spec.Rlimits = protocol.WireRlimits(append(s.rlimits(), res.rlimits...))

	init := s.initCmd(childEnd, childFiles)
	if res.cg != nil {
		// The init stays in the host's cgroup namespace, from which the
		// sandbox's cgroup is reachable (cgroup v2 with nsdelegate allows
		// moves only within a namespace); the command gets its own
		// namespace, rooted at its cgroup.
		init.SysProcAttr.Cloneflags &^= unix.CLONE_NEWCGROUP
		if fd := res.cg.InitFD(); fd != nil {
			init.SysProcAttr.UseCgroupFD = true
			init.SysProcAttr.CgroupFD = int(fd.Fd())
		}
	}
	start := time.Now()
	// Pdeathsig fires when the thread that started the child exits, so the
	// start happens on a locked thread; Go keeps unlocked threads alive.
	runtime.LockOSThread()
	err = init.Start()
	runtime.UnlockOSThread()
	if err != nil {
		hostEnd.Close()
		hostFiles.Close()
		if f, _ := Check().Feature("user namespaces"); !f.Available {
			return nil, usernsError(err)
		}
		return nil, fmt.Errorf("sandbox: start init: %w", err)
	}
	p := newProcess(init, hostEnd, conn, hostFiles, start, res)
	p.owner = s
	// The spec goes while the init starts (it reads it as soon as its
	// runtime is up); waiting for the filter only now lets a first Run's
	// init start while New's compile finishes.
	spec.Filter, err = s.filter()
	if err == nil {
		if err = conn.Send(protocol.Message{Spec: spec}); err != nil {
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
				// The init is gone already: say how it ended.
				m, rerr := conn.Recv()
				if rerr == io.EOF {
					return nil, p.answer(m, rerr)
				}
			}
			err = fmt.Errorf("sandbox: send spec to init: %w", err)
		}
	}
	if err != nil {
		return nil, p.fail(err)
	}
	return p, nil
}

// ready waits for the init to report the sandbox built (once).
func (p *Process) ready() error {
	if p.isReady {
		return nil
	}
	m, err := p.conn.Recv()
	if err := p.answer(m, err); err != nil {
		return err
	}
	if m.Ready == nil {
		return p.fail(fmt.Errorf("sandbox: init answered the spec with an unexpected message"))
	}
	p.isReady = true
	return nil
}

// answer turns the init's answer into an error when it is a failure, or
// when the init died (then the init has been reaped and p closed).
func (p *Process) answer(m protocol.Message, err error) error {
	switch {
	case err == io.EOF:
		p.init.Wait()
		p.closeHost()
		return &SetupError{Step: "init", Message: "the sandbox init exited during set-up (" +
			p.init.ProcessState.String() + "); is sandbox.Main called first in main?"}
	case err != nil:
		return p.fail(fmt.Errorf("sandbox: read from init: %w", err))
	case m.Failed != nil:
		f := m.Failed
		return p.fail(&SetupError{Step: f.Step, Path: f.Path, Errno: syscall.Errno(f.Errno), Message: f.Message})
	}
	return nil
}

// fail kills the init, reaps it, closes the host's ends and returns err.
func (p *Process) fail(err error) error {
	p.init.Process.Kill()
	p.init.Wait()
	p.closeHost()
	return err
}

// exec hands cmd to the init and waits for it to start. On an error the
// sandbox is gone (its resources are the caller's to release).
func (p *Process) exec(s *Sandbox, cmd *Cmd, start time.Time) error {
	lim := s.opts.Limits
	p.lim, p.start = lim, start
	if n := lim.Output; n > 0 {
		p.out = &outputCap{left: n, hit: make(chan struct{})}
	}
	files, err := p.stdio(cmd)
	if err == nil {
		cgFiles, placement := p.res.files(len(files))
		e := &protocol.Exec{Command: s.command(cmd), Cgroup: protocol.WireCgroup(placement)}
		err = protocol.SendExec(p.files, e, append(files, cgFiles...))
	}
	for _, f := range p.childStdio {
		f.Close() // the init has its copies (or the run failed)
	}
	p.childStdio = nil
	if err != nil {
		if rerr := p.ready(); rerr != nil {
			return rerr // the init failed first (set-up), and said why
		}
		return p.fail(fmt.Errorf("sandbox: %w", err))
	}
	if err := p.ready(); err != nil {
		return err
	}
	m, err := p.conn.Recv()
	if err := p.answer(m, err); err != nil {
		return err
	}
	if m.Started == nil {
		return p.fail(fmt.Errorf("sandbox: init answered the command with an unexpected message"))
	}
	p.cmdPid = m.Started.Pid
	p.initStarted()
	go p.read()
	if cg := p.res.cg; cg != nil {
		if err := cg.Settle(); err != nil {
			p.Kill()
			p.Wait()
			return fmt.Errorf("sandbox: cgroup %s: %w", cg.Path(), err)
		}
	}
	p.enforce()
	return nil
}

// initCmd is the re-execution of this binary that becomes the sandbox's
// pid 1. Its stdio is /dev/null; sock, the protocol socket, is its fd 3
// and files, the fd socket, fd 4 (both named by the marker).
func (s *Sandbox) initCmd(sock, files *os.File) *exec.Cmd {
	return &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"corral-init"},
		Env:         []string{protocol.Marker(3, 4)},
		ExtraFiles:  []*os.File{sock, files}, // fds 3 and 4
		SysProcAttr: protocol.InitAttr(s.opts.Network == NetworkNone),
	}
}
