package isolate

// Opening a path beneath a directory fd without following any symlink and
// without crossing a mount: the resolution ExtractTar and ArchiveTar make
// every name of theirs through.

import (
	"errors"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrEscape is matched (errors.Is) by the error for a name that would
// leave the directory it is resolved beneath: an absolute name, or one with
// a ".." component.
var ErrEscape = errors.New("name leaves the directory (absolute, or with a \"..\" component)")

// beneath is how openBeneath resolves with openat2: beneath the directory,
// through no symlink (nor magic link: /proc/self/fd) and no mount point.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// noOpenat2 is set once openat2 answered ENOSYS: a kernel older than 5.6,
// or a seccomp filter that refuses it (the default profile does, and the
// init's launcher thread runs under it). walkOnly forces the walk, for tests.
var noOpenat2, walkOnly atomic.Bool

// cleanName returns name as a relative path of components, "" for the
// directory itself: a leading "./", repeated and trailing slashes and "."
// components are dropped. An absolute name or a ".." component is refused
// (ErrEscape): they are not cleaned into the directory, since a name that
// means something else than it says is a mistake worth reporting.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", ErrEscape
	}
	var parts []string
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
		case "..":
			return "", ErrEscape
		default:
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, "/"), nil
}

// openBeneath opens name (clean: cleanName) beneath the directory dirfd
// with flags (O_NOFOLLOW and O_CLOEXEC added) and mode: with openat2
// (RESOLVE_BENEATH, NO_SYMLINKS, NO_MAGICLINKS, NO_XDEV), or where it is
// missing (ENOSYS) by a walk (walkBeneath). Both are free of races: every
// step holds an fd, and a symlink or mount swapped in anywhere fails the
// open (ELOOP, EXDEV) rather than redirecting it. "" opens the directory
// itself. dev is dirfd's st_dev (for the walk).
func openBeneath(dirfd int, dev uint64, name string, flags int, mode uint32) (int, error) {
	fd, err := resolveBeneath(dirfd, dev, name, flags, mode)
	if err == unix.ENOTDIR && flags&unix.O_DIRECTORY != 0 {
		// A symlink where a directory was wanted: say so (the error only;
		// nothing is opened through it).
		if l, lerr := resolveBeneath(dirfd, dev, name, unix.O_PATH, 0); lerr == nil {
			var st unix.Stat_t
			if unix.Fstat(l, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP
			}
			unix.Close(l)
		}
	}
	return fd, err
}

// resolveBeneath is openBeneath without its choice of errno.
func resolveBeneath(dirfd int, dev uint64, name string, flags int, mode uint32) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if name == "" {
		name = "."
	}
	if !noOpenat2.Load() && !walkOnly.Load() {
		how := &unix.OpenHow{Flags: uint64(flags), Resolve: beneath}
		if flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
			how.Mode = uint64(mode)
		}
		for {
			fd, err := unix.Openat2(dirfd, name, how)
			if err == unix.EAGAIN || err == unix.EINTR {
				continue // a rename raced the resolution: try again
			}
			if err != unix.ENOSYS {
				return fd, err
			}
			noOpenat2.Store(true)
			break
		}
	}
	return walkBeneath(dirfd, dev, name, flags, mode)
}

// walkBeneath opens name beneath dirfd one component at a time: each
// directory with openat(O_PATH|O_NOFOLLOW), which opens a symlink as
// itself, and an fstat that it is a directory (a symlink: ELOOP) on dirfd's
// filesystem (st_dev dev: not a mount point of another); the last component
// with flags, and the same check of its filesystem.
func walkBeneath(dirfd int, dev uint64, name string, flags int, mode uint32) (int, error) {
	parts := strings.Split(name, "/")
	cur, err := unix.FcntlInt(uintptr(dirfd), unix.F_DUPFD_CLOEXEC, 0) // close-on-exec: a Box starts commands while copies work
	if err != nil {
		return -1, err
	}
	for i, c := range parts {
		if c == ".." || c == "" {
			unix.Close(cur)
			return -1, ErrEscape
		}
		last := i == len(parts)-1
		f, m := unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(0)
		if last {
			f, m = flags, mode
		}
		var next int
		for {
			next, err = unix.Openat(cur, c, f, m)
			if err != unix.EINTR {
				break
			}
		}
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(next, &st); err != nil {
			unix.Close(next)
			return -1, err
		}
		switch {
		case st.Dev != dev:
			unix.Close(next)
			return -1, unix.EXDEV
		case !last && st.Mode&unix.S_IFMT == unix.S_IFLNK:
			unix.Close(next)
			return -1, unix.ELOOP
		case !last && st.Mode&unix.S_IFMT != unix.S_IFDIR:
			unix.Close(next)
			return -1, unix.ENOTDIR
		}
		cur = next
	}
	return cur, nil
}

// split returns name's parent ("" for the directory) and last component.
func split(name string) (parent, last string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// fdDev returns fd's st_dev.
func fdDev(fd int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Dev, nil
}

// splitSeq yields the components of the clean name.
func splitSeq(name string) func(func(string) bool) {
	return strings.SplitSeq(name, "/")
}
