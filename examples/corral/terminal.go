package main

// corral run -t: the command on a terminal of the sandbox's own, which
// corral's terminal drives in raw mode.

import (
	"errors"
	"io"
	"os"
	"os/signal"
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

// driveTerminal puts corral's terminal, stdin, in raw mode, so that every
// key reaches the sandbox's terminal as it is (Ctrl-C too: its line
// discipline sends SIGINT to the foreground job there), and passes on the
// changes of its size (SIGWINCH) until the run ends. The returned func
// restores the terminal's modes and stops the resizes; call it before
// corral exits, in every case.
func driveTerminal(p *sandbox.Process, stdin *os.File) (restore func(), err error) {
	fd := int(stdin.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
					p.Resize(ws.Row, ws.Col)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		term.Restore(fd, old)
	}, nil
}
