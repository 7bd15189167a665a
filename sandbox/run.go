package sandbox

// Starting a run: a command handed to a booted sandbox the run borrows.

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
)

// startRun starts cmd in b, which the run borrows (warm: from the pool),
// watched by ctx from here on, set-up included. On an error b is gone, its
// init ended and its resources released; the error says so when ctx ended
// the set-up.
func (s *Sandbox) startRun(ctx context.Context, b *booted, cmd *Cmd, start time.Time, warm bool) (*Process, error) {
	p := newProcess(b, start)
	p.warm = warm
	p.watch(ctx)
	err := p.startCommand(cmd)
	if err == nil {
		return p, nil
	}
	p.stopWatch()
	p.closeStdin()
	p.closeTerminal()
	b.res.close()
	if ctxErr := p.end(nil); ctxErr != nil {
		return nil, fmt.Errorf("sandbox: set-up interrupted: %w", ctxErr)
	}
	return nil, err
}

// startCommand hands cmd to the init and waits for it to start. On an
// error the sandbox is gone (its resources are the caller's to release);
// in a Box only the run is (Box.started).
func (p *Process) startCommand(cmd *Cmd) error {
	b := p.box
	s := b.sb
	p.lim = s.opts.Limits
	if p.boxed != nil {
		p.lim = Limits{Output: p.lim.Output} // the rest bound the Box as a whole
	}
	if n := p.lim.Output; n > 0 {
		p.out = &outputCap{left: n, hit: make(chan struct{})}
	}
	var files []*os.File
	var err error
	if cmd.TTY != nil {
		files, err = p.ttyStdio(cmd)
	} else {
		files, err = p.stdio(cmd)
	}
	b.attach(p) // the init's answer to the command goes to p
	var command protocol.Command
	if err == nil {
		command, err = s.command(cmd, b)
	}
	if err == nil {
		cgFiles, placement := b.res.files(len(files))
		e := &protocol.Exec{Run: p.run, Command: command, Cgroup: protocol.WireCgroup(placement), Terminal: wireTerminal(cmd.TTY)}
		files = append(files, cgFiles...)
		var copyFiles []*os.File
		if copyFiles, e.Files, err = p.copyFiles(cmd, len(files)); err == nil { // copy.go
			err = b.sendExec(e, append(files, copyFiles...))
		}
	}
	for _, f := range p.childStdio {
		f.Close() // the init has its copies (or the run failed)
	}
	p.childStdio = nil
	if p.boxed != nil {
		return p.boxed.started(p, cmd, err)
	}
	if err != nil {
		if rerr := b.awaitReady(); rerr != nil {
			return rerr // the init failed first (set-up), and said why
		}
		return b.fail(fmt.Errorf("sandbox: %w", err))
	}
	if err := b.awaitReady(); err != nil {
		return err
	}
	m, ok := <-p.msgs
	if err := b.answer(m, ok); err != nil {
		return p.copyInFailed(err) // copy.go
	}
	if m.Started == nil {
		return b.fail(fmt.Errorf("sandbox: init answered the command with an unexpected message"))
	}
	p.cmdPid = m.Started.Pid
	if cmd.TTY != nil {
		if err := p.receiveTerminal(cmd); err != nil {
			return b.fail(fmt.Errorf("sandbox: %w", err))
		}
	}
	p.initStarted()
	if cg := b.res.cg; cg != nil {
		if err := cg.Settle(); err != nil {
			// The booted sandbox ends here, with the command in it: not
			// through Wait, which would give it back to the pool (Reuse).
			return b.fail(fmt.Errorf("sandbox: cgroup %s: %w", cg.Path(), err))
		}
	}
	p.enforce()
	return nil
}
