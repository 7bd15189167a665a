package pid1

// Files in and out of the sandbox around a run (protocol.CopyFiles): a tar
// stream extracted beneath the command's directory before it starts, and
// one archived from there once its processes are all dead.
//
// Both run on the launcher thread, in the run's own order (it holds the
// files the Exec brought, and nothing else of the init waits on them). It
// is the one thread the sandbox's seccomp filter confines, as the command
// is; but what keeps the copies in the directory is how they resolve names
// (isolate.ExtractTar, ArchiveTar: beneath an fd, through no symlink and no
// mount), not the thread. Under the default filter openat2 fails with
// ENOSYS, and the names resolve by the fd walk that replaces it. A caller's
// own filter that refuses the calls a copy makes (mkdirat, symlinkat,
// linkat, fchmod, utimensat) fails the copy.

import (
	"errors"
	"io"
	"os"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// The steps of the copies' failures (protocol.Failed.Step).
const (
	stepCopyIn  = "copyin"
	stepCopyOut = "copyout"
)

// runCopies is what a run holds for its copies: the directory the names
// resolve beneath, opened before the command started (so that the command
// cannot swap it), and the fd to write the copy out to.
type runCopies struct {
	dir   *os.File
	names []string
	out   int // -1: none
}

// copyIn extracts the tar stream of the file r beneath dir (it closes
// neither). Its error is an *isolate.Error of the step "copyin", naming the
// entry.
func copyIn(dir *os.File, r int) error {
	return restep(stepCopyIn, isolate.ExtractTar(dir, fdFile(r)))
}

// copyOut writes a tar stream of names beneath dir to the file w (it closes
// neither). Its error is an *isolate.Error of the step "copyout".
func copyOut(dir *os.File, names []string, w int) error {
	return restep(stepCopyOut, isolate.ArchiveTar(dir, names, fdFile(w)))
}

// restep names err's step step.
func restep(step string, err error) error {
	if err == nil {
		return nil
	}
	var ie *isolate.Error
	if errors.As(err, &ie) {
		return &isolate.Error{Step: step, Path: ie.Path, Err: ie.Err}
	}
	return &isolate.Error{Step: step, Err: err}
}

// copiesIn opens e's directory (with open: openDirNoSymlinks, since an
// earlier run, or a command of a Box, may have left a symlink on its path,
// in a writable bind that no reset empties) and extracts its copy in, before its
// command starts, and keeps what its copy out needs (a copy of its fd:
// start closes the Exec's files). nil when e copies nothing.
func copiesIn(e *protocol.Exec, files []int, open func(string) (*os.File, error)) (*runCopies, error) {
	c := e.Files
	if c.CopyIn == 0 && c.CopyOutFile == 0 {
		return nil, nil
	}
	fd := func(i int) (int, error) {
		if i < 0 || i >= len(files) {
			return -1, &isolate.Error{Step: "files", Err: errors.New("copy file index out of range")}
		}
		return files[i], nil
	}
	dir, err := open(e.Command.Dir)
	if err != nil {
		return nil, err
	}
	rc := &runCopies{dir: dir, names: c.CopyOut, out: -1}
	if c.CopyIn > 0 {
		r, err := fd(c.CopyIn)
		if err == nil {
			err = copyIn(dir, r)
		}
		if err != nil {
			dir.Close()
			return nil, err
		}
	}
	if c.CopyOutFile > 0 {
		w, err := fd(c.CopyOutFile)
		if err == nil {
			rc.out, err = unix.FcntlInt(uintptr(w), unix.F_DUPFD_CLOEXEC, 0)
		}
		if err != nil {
			dir.Close()
			return nil, err
		}
	}
	return rc, nil
}

// copiesOut writes the run's copy out, once its processes are all dead,
// and closes what the run held; nil rc copies nothing. Its failure goes in
// the run's Exited (the run itself is over, and is reported).
func (rc *runCopies) copiesOut(ex *protocol.Exited) {
	if rc == nil {
		return
	}
	defer rc.dir.Close()
	if rc.out < 0 {
		return
	}
	err := copyOut(rc.dir, rc.names, rc.out)
	unix.Close(rc.out) // the host's copy sees EOF
	if err != nil {
		ex.CopyOut = failure(err)
	}
}

// fdFile reads and writes an fd the caller keeps (not an *os.File, whose
// finalizer would close it), waiting when it is non-blocking.
type fdFile int

func (f fdFile) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(f), p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			f.wait(unix.POLLIN)
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f fdFile) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(int(f), p[done:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			f.wait(unix.POLLOUT)
			continue
		case err != nil:
			return done, err
		}
		done += n
	}
	return done, nil
}

// wait waits until f is ready for events.
func (f fdFile) wait(events int16) {
	unix.Poll([]unix.PollFd{{Fd: int32(f), Events: events}}, -1)
}
