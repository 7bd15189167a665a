package sandbox

import (
	"fmt"
	"io"
	"os"
)

// stdio returns the command's files, as the init will pass them on:
// stdin, stdout, stderr, then Cmd.ExtraFiles. As os/exec does, a Stdin,
// Stdout or Stderr that is an *os.File is passed as it is, nil is
// /dev/null, and any other reader or writer is copied through a pipe (one
// pipe when Stdout and Stderr are the same writer).
//
// Under Limits.Output both outputs always go through the cap, and so does
// stdin through a pipe: a file passed as it is could carry output past the
// cap (a terminal, a socket, a file opened for writing, or a read-only file
// reopened for writing through /proc/self/fd where Landlock is off). The
// read end of a pipe can carry nothing back to the host: reopened for
// writing, it feeds the command's own stdin. ExtraFiles are the caller's
// explicit channels and are not capped.
//
// The ends the init gets are in p.childStdio, for the caller to close once
// they are sent.
func (p *Process) stdio(cmd *Cmd) ([]*os.File, error) {
	var null *os.File
	devNull := func() (*os.File, error) {
		if null == nil {
			f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, err
			}
			null = f
			p.childStdio = append(p.childStdio, f)
		}
		return null, nil
	}
	files := make([]*os.File, 0, 3+len(cmd.ExtraFiles))

	in, isFile := cmd.Stdin.(*os.File)
	switch {
	case cmd.Stdin == nil:
		f, err := devNull()
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	case isFile && p.out == nil:
		files = append(files, in)
	default:
		// Our own pipe, not one tied to Wait: the copy must not keep Wait
		// waiting in the caller's Read once the sandbox has ended.
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("stdin pipe: %w", err)
		}
		p.childStdio = append(p.childStdio, r)
		p.stdin = w
		go func() {
			io.Copy(w, cmd.Stdin)
			w.Close()
		}()
		files = append(files, r)
	}

	output := func(w io.Writer) (*os.File, error) {
		if p.out != nil {
			w = p.out.writer(w)
		} else if f, ok := w.(*os.File); ok {
			return f, nil
		} else if w == nil {
			return devNull()
		}
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("output pipe: %w", err)
		}
		p.childStdio = append(p.childStdio, pw)
		p.outReaders = append(p.outReaders, r)
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			if _, err := io.Copy(w, r); err != nil && !p.cutOff.Load() {
				p.copyErr.CompareAndSwap(nil, &err)
			}
			r.Close()
		}()
		return pw, nil
	}
	stdout, err := output(cmd.Stdout)
	if err != nil {
		return nil, err
	}
	stderr := stdout
	if !sameWriter(cmd.Stdout, cmd.Stderr) {
		if stderr, err = output(cmd.Stderr); err != nil {
			return nil, err
		}
	}
	files = append(files, stdout, stderr)
	return append(files, cmd.ExtraFiles...), nil
}

// sameWriter reports whether a and b are the same writer (as os/exec
// decides whether Stdout and Stderr share one pipe).
func sameWriter(a, b io.Writer) (same bool) {
	if a == nil || b == nil {
		return false
	}
	defer func() { recover() }() // an uncomparable writer is not the same
	return a == b
}
