package main

// --log-denials: each system call the filter refuses, one line on stderr.

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// lockedWriter serializes writes to w: the command's stderr and the
// refusals share it.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// logDenials sets opts.Denials to write each refusal to *stderr as one
// line (formatDenial), and makes *stderr, which the command's stderr
// shares, safe for both. It reports false, having said why on *stderr,
// when opts has no filter.
func logDenials(opts *sandbox.Options, stderr *io.Writer) bool {
	if opts.Seccomp.Disabled {
		fmt.Fprintln(*stderr, "corral: --log-denials reports the filter's refusals, and --seccomp off leaves no filter: drop one of the two")
		return false
	}
	w := &lockedWriter{w: *stderr}
	*stderr = w
	opts.Denials = func(d sandbox.Denial) {
		io.WriteString(w, formatDenial(d)+"\n")
	}
	return true
}

// formatDenial says what was refused, in the manner of strace: the call
// with its six raw arguments (pointers are not followed), the errno it
// got, and the caller:
//
//	corral: refused mount(0x55d0c2a4e2a0, 0x55d0c2a4e2c0, ...) = EPERM (pid 3)
func formatDenial(d sandbox.Denial) string {
	args := make([]string, len(d.Args))
	for i, a := range d.Args {
		args[i] = fmt.Sprintf("%#x", a)
	}
	errno := unix.ErrnoName(d.Errno)
	if errno == "" {
		errno = fmt.Sprintf("errno %d", int(d.Errno))
	}
	pid := "pid unknown"
	if d.Pid != 0 {
		pid = fmt.Sprintf("pid %d", d.Pid)
	}
	return fmt.Sprintf("corral: refused %s(%s) = %s (%s)", d.Syscall, strings.Join(args, ", "), errno, pid)
}
