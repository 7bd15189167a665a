package isolate

// Resetting a sandbox for reuse: what a run left in its writable mounts
// goes, without leaving those mounts.

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// maxClearDepth bounds the directory depth Record and Clear walk; a
// deeper tree makes them fail (the sandbox is then not reused).
const maxClearDepth = 256

// Tree is what a writable mount held when the sandbox was built: its
// entries (paths relative to the mount's root, not below other mounts),
// each with what identifies it.
type Tree map[string]Entry

// Entry identifies a file: a file replaced or changed has another inode,
// mode or change time (directories: inode and mode; their change time
// moves with their entries).
type Entry struct {
	Ino   uint64
	Mode  uint16
	Ctime unix.StatxTimestamp
}

// Record returns what the directory dir (an absolute path, resolved inside
// the current root with no symlink followed) holds on its mount.
func Record(dir string) (Tree, error) {
	t := Tree{}
	err := walk(dir, func(fd int, mnt uint64) error { return recordAt(fd, mnt, "", t, 0) })
	return t, err
}

// Clear empties the directory dir down to what it held when it was
// recorded (keep): every other file and directory in it is removed;
// mount points and what is below them belong to other mounts and stay.
// It fails when an entry of keep is gone or was changed (the caller
// cannot restore it). The directory itself gets mode back and loses its
// extended attributes.
func Clear(dir string, mode uint32, keep Tree) error {
	return walk(dir, func(fd int, mnt uint64) error {
		if err := unix.Fchmod(fd, mode); err != nil {
			return err
		}
		if err := clearXattrs(fd); err != nil {
			return err
		}
		seen := 0
		if err := clearAt(fd, mnt, "", keep, &seen, 0); err != nil {
			return err
		}
		if seen != len(keep) {
			return errors.New("entries of the built sandbox are gone")
		}
		return nil
	})
}

// walk opens dir and calls f with its fd (which f must not close) and mount.
func walk(dir string, f func(fd int, mnt uint64) error) error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stepErr("clear", dir, err)
	}
	fd, err := unix.Openat2(root, dir, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	unix.Close(root)
	if err != nil {
		return stepErr("clear", dir, err)
	}
	defer unix.Close(fd)
	mnt, err := mountID(fd, "")
	if err == nil {
		err = f(fd, mnt)
	}
	return stepErr("clear", dir, err)
}

// entries lists directory fd's entries that are on mount mnt, with their
// statx. fd stays open.
func entries(fd int, mnt uint64, depth int) ([]string, []unix.Statx_t, error) {
	if depth > maxClearDepth {
		return nil, nil, errors.New("directory tree too deep")
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, nil, err
	}
	var keep []string
	var stats []unix.Statx_t
	for _, name := range names {
		var stx unix.Statx_t
		err := unix.Statx(fd, name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC,
			unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_INO|unix.STATX_CTIME|unix.STATX_MNT_ID, &stx)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if stx.Mnt_id != mnt {
			continue // a mount point: another mount's
		}
		keep, stats = append(keep, name), append(stats, stx)
	}
	return keep, stats, nil
}

func entryOf(stx *unix.Statx_t) Entry {
	e := Entry{Ino: stx.Ino, Mode: stx.Mode}
	if stx.Mode&unix.S_IFMT != unix.S_IFDIR {
		e.Ctime = stx.Ctime
	}
	return e
}

func recordAt(fd int, mnt uint64, prefix string, t Tree, depth int) error {
	names, stats, err := entries(fd, mnt, depth)
	if err != nil {
		return err
	}
	for i, name := range names {
		t[prefix+name] = entryOf(&stats[i])
		if stats[i].Mode&unix.S_IFMT == unix.S_IFDIR {
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			err = recordAt(sub, mnt, prefix+name+"/", t, depth+1)
			unix.Close(sub)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// clearAt removes what directory fd holds on mount mnt but what keep
// names (under prefix), counting in seen the entries of keep it found.
func clearAt(fd int, mnt uint64, prefix string, keep Tree, seen *int, depth int) error {
	names, stats, err := entries(fd, mnt, depth)
	if err != nil {
		return err
	}
	for i, name := range names {
		rel, stx := prefix+name, &stats[i]
		isDir := stx.Mode&unix.S_IFMT == unix.S_IFDIR
		kept, ok := keep[rel]
		if ok {
			*seen++
			if kept != entryOf(stx) {
				return errors.New(rel + " of the built sandbox was changed")
			}
		}
		if isDir {
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			err = clearAt(sub, mnt, rel+"/", keep, seen, depth+1)
			unix.Close(sub)
			if err != nil {
				return err
			}
		}
		if ok {
			continue
		}
		flags := 0
		if isDir {
			flags = unix.AT_REMOVEDIR
		}
		if err := unix.Unlinkat(fd, name, flags); err != nil && err != unix.ENOENT {
			return err
		}
	}
	return nil
}

// mountID returns the id of the mount fd (or name under it) is on.
func mountID(fd int, name string) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, name, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, err
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, errors.New("statx: no mount id")
	}
	return stx.Mnt_id, nil
}

// clearXattrs removes every extended attribute of fd.
func clearXattrs(fd int) error {
	buf := make([]byte, 64<<10)
	n, err := unix.Flistxattr(fd, buf)
	if err != nil {
		if err == unix.ENOTSUP {
			return nil
		}
		return err
	}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name != "" {
			if err := unix.Fremovexattr(fd, name); err != nil && err != unix.ENODATA {
				return err
			}
		}
	}
	return nil
}
