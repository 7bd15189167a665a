package pid1

// Copies into and out of a live sandbox (sandbox.Box.CopyIn, CopyOut): an
// Exec with no command, only Files. Unlike a run's copies (files.go), they
// come at any time, while the Box's commands run and may be changing the
// directory tree, so the directory itself is opened without following any
// symlink (openDirNoSymlinks), and the copy runs on a goroutine of its
// own: the launcher thread goes on starting commands, and a host that
// reads a copy out slowly holds up nothing else.
//
// That goroutine's thread is an unconfined one (the launcher's is locked to
// it alone): the names resolve beneath the directory's fd, through no
// symlink and no mount (isolate.ExtractTar, ArchiveTar), and that, not the
// thread's confinement, is what keeps a copy in the directory. The copy
// has the init's capabilities in the sandbox's user namespace, so it
// reads files the command made unreadable to itself; it cannot write to a
// read-only mount, and never leaves the directory's mount.

import (
	"os"
	"strings"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// copyOnly reports whether e carries a copy alone, and no command.
func copyOnly(e *protocol.Exec) bool { return e.Command.Path == "" }

// copyLive serves e, a copy alone in a live sandbox, on a goroutine of its
// own: Started (Pid 0) once the copy in is done, or Failed; then Exited,
// with the copy out's failure if any. It closes files.
func (s *state) copyLive(e *protocol.Exec, files []int) {
	defer func() {
		for _, f := range files {
			unix.Close(f)
		}
	}()
	rc, err := copiesIn(e, files, openDirNoSymlinks)
	if err != nil {
		f := failure(err)
		f.Run = e.Run
		s.send(protocol.Message{Failed: f})
		return
	}
	s.send(protocol.Message{Started: &protocol.Started{Run: e.Run}})
	ex := &protocol.Exited{Run: e.Run}
	rc.copiesOut(ex)
	s.send(protocol.Message{Exited: ex})
}

// openDirNoSymlinks opens the directory at the absolute path name, through
// no symlink (and no magic link of /proc), crossing mounts: openat2 where
// the kernel has it, else one component at a time with O_NOFOLLOW, each
// step holding an fd, so that a symlink swapped in fails the open.
func openDirNoSymlinks(name string) (*os.File, error) {
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(unix.AT_FDCWD, name, &how)
	if err == unix.ENOSYS {
		fd, err = walkNoSymlinks(name)
	}
	if err != nil {
		return nil, &isolate.Error{Step: stepCopyIn, Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// walkNoSymlinks opens the directory name from / a component at a time,
// never following a symlink.
func walkNoSymlinks(name string) (int, error) {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == "" || c == "." {
			continue
		}
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
