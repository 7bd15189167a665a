package sandbox

// A command's terminal: a pty the sandbox's init opens in the sandbox's
// own devpts, whose master comes back to the host (internal/pid1/tty.go).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// TTY gives a command a terminal: a pseudo-terminal of the sandbox's own
// (its /dev/pts/N; the host's terminals stay invisible), which is the
// command's stdin, stdout, stderr and controlling terminal, as a shell at
// a login has. Rows and Cols are its initial size; zero means 24 rows or
// 80 columns. Process.Terminal is its master end on the host, and
// Process.Resize changes its size.
type TTY struct {
	Rows, Cols uint16
}

// validateTTY checks the streams of a Cmd with a TTY: a terminal has one
// output stream, which goes to Stdout.
func (c *Cmd) validateTTY() error {
	if c.TTY == nil {
		return nil
	}
	if c.Stderr != nil {
		return &OptionError{"Cmd.Stderr", fmt.Sprintf("%T", c.Stderr), "must be nil with Cmd.TTY: a terminal has one output stream, copied to Cmd.Stdout"}
	}
	return nil
}

// wireTerminal is the Exec field for t.
func wireTerminal(t *TTY) *protocol.Winsize {
	if t == nil {
		return nil
	}
	ws := &protocol.Winsize{Rows: t.Rows, Cols: t.Cols}
	if ws.Rows == 0 {
		ws.Rows = 24
	}
	if ws.Cols == 0 {
		ws.Cols = 80
	}
	return ws
}

// ttyStdio returns the files sent for the command's stdio with a TTY: the
// init puts the pty's slave in their place. They are the null device.
func (p *Process) ttyStdio(cmd *Cmd) ([]*os.File, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	p.childStdio = append(p.childStdio, null)
	return append([]*os.File{null, null, null}, cmd.ExtraFiles...), nil
}

// receiveTerminal receives the pty's master, which the init sent before
// Started, and starts the copies from Cmd.Stdin and to Cmd.Stdout.
func (p *Process) receiveTerminal(cmd *Cmd) error {
	m, err := p.box.terminal(p.run)
	if err != nil {
		return err
	}
	p.term = m
	if cmd.Stdin != nil {
		go io.Copy(p.term, cmd.Stdin)
	}
	if w := cmd.Stdout; w != nil {
		if p.out != nil {
			w = p.out.writer(w)
		}
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			if _, err := io.Copy(w, p.term); err != nil && !errors.Is(err, syscall.EIO) {
				p.copyErr.CompareAndSwap(nil, &err)
			}
		}()
	}
	return nil
}

// closeTerminal closes the master, once the copies are done.
func (p *Process) closeTerminal() {
	if p.term != nil {
		p.term.Close()
	}
}

// Terminal returns the master end of the command's terminal (Cmd.TTY), or
// nil without one. What is written to it is the command's input, and its
// output is read from it: an agent can drive a shell through it (when
// Cmd.Stdin and Cmd.Stdout are nil; else they are copied to and from it).
// A read returns an error wrapping syscall.EIO once every process of the
// run has closed the terminal. Wait closes it.
func (p *Process) Terminal() *os.File {
	return p.term
}

// Resize sets the size of the command's terminal; the kernel sends
// SIGWINCH to its foreground process group.
func (p *Process) Resize(rows, cols uint16) error {
	if p.term == nil {
		return errors.New("sandbox: Resize: the command has no terminal (Cmd.TTY)")
	}
	raw, err := p.term.SyscallConn()
	if err != nil {
		return fmt.Errorf("sandbox: Resize: %w", err)
	}
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}); err != nil {
		return fmt.Errorf("sandbox: Resize: %w", err)
	}
	if ierr != nil {
		return fmt.Errorf("sandbox: Resize: %w", ierr)
	}
	return nil
}

// terminal returns run's pty master, which the init sent on the fd socket
// before the run's Started: the one receiver of masters at a time, it
// keeps those of other runs (several commands of a Box may get terminals
// at once) for their own call. Masters left unclaimed (a run whose start
// failed after its terminal was sent) are closed with the sockets (reap).
func (b *booted) terminal(run int) (*os.File, error) {
	b.termMu.Lock()
	defer b.termMu.Unlock()
	for {
		if f, ok := b.terms[run]; ok {
			delete(b.terms, run)
			return f, nil
		}
		r, f, err := protocol.RecvTerminal(b.files)
		if err != nil {
			return nil, err
		}
		if b.terms == nil {
			b.terms = map[int]*os.File{}
		}
		b.terms[r] = f
	}
}

// closeTerminals closes the masters no run claimed.
func (b *booted) closeTerminals() {
	b.termMu.Lock()
	defer b.termMu.Unlock()
	for r, f := range b.terms {
		f.Close()
		delete(b.terms, r)
	}
}
