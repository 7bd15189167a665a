package main

// corral run -t: the command on a terminal of the sandbox's own, which
// corral's terminal drives in raw mode.

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/corral-dev/corral/sandbox"
)

// terminalCmd sets cmd up for -t: the command gets a pty of the sandbox's
// own (Cmd.TTY) at the size of corral's terminal, stdin, which must be
// that terminal, is copied to it, and its output to stdout.
func terminalCmd(cmd *sandbox.Cmd, stdin io.Reader, stdout io.Writer) error {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return errors.New("-t: stdin is not a terminal; run corral from one, or leave out -t")
	}
	cols, rows, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return err
	}
	cmd.TTY = &sandbox.TTY{Rows: uint16(rows), Cols: uint16(cols)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, stdout, nil
	return nil
}

// hostTerminal is corral's own terminal during a -t run: in raw mode from
// before the sandbox starts (so that nothing the command prints, nor a
// key typed early, meets the cooked mode) until restore.
type hostTerminal struct {
	fd    int
	old   *term.State
	winch chan os.Signal
	done  chan struct{}
	once  sync.Once
}

// rawTerminal puts corral's terminal, stdin, in raw mode, so that every
// key reaches the sandbox's terminal as it is (Ctrl-C too: its line
// discipline sends SIGINT to the foreground job there). Changes of its
// size (SIGWINCH) are queued from now on and passed on once forward has
// the run. Call restore before corral exits, in every case.
func rawTerminal(stdin *os.File) (*hostTerminal, error) {
	fd := int(stdin.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	h := &hostTerminal{fd: fd, old: old, winch: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(h.winch, syscall.SIGWINCH)
	return h, nil
}

// forward passes the terminal's size to p now and on each SIGWINCH,
// until restore.
func (h *hostTerminal) forward(p *sandbox.Process) {
	resize := func() {
		if ws, err := unix.IoctlGetWinsize(h.fd, unix.TIOCGWINSZ); err == nil {
			p.Resize(ws.Row, ws.Col)
		}
	}
	resize() // a change between Start and now
	go func() {
		for {
			select {
			case <-h.winch:
				resize()
			case <-h.done:
				return
			}
		}
	}()
}

// restore gives the terminal its modes back and stops the resizes; it
// may be called more than once, and on nil.
func (h *hostTerminal) restore() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		signal.Stop(h.winch)
		close(h.done)
		term.Restore(h.fd, h.old)
	})
}
