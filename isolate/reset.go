package isolate

// Resetting a sandbox for reuse: what a run left in its writable mounts
// goes, without leaving those mounts.

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maxClearDepth bounds the directory depth Record and Clear walk; a
// deeper tree makes them fail (the sandbox is then not reused).
const maxClearDepth = 256

// Tree is what a writable mount held when the sandbox was built: its
// root directory and its entries (by path relative to the mount's root,
// not below other mounts), and its free space.
type Tree struct {
	// Private says the filesystem is the mount's alone (a tmpfs of the
	// sandbox's): Clear then checks its free space too.
	Private bool

	root    Entry
	entries map[string]Entry
	free    [2]uint64 // free blocks and inodes
}

// Entry is a file as recorded: what identifies it (a file replaced or
// changed has another inode, mode or change time; a directory, another
// inode), and the metadata a reset puts back.
type Entry struct {
	Ino          uint64
	Mode         uint16
	UID, GID     uint32
	Ctime        unix.StatxTimestamp // non-directories: any change of the file moves it
	Atime, Mtime unix.StatxTimestamp
	Xattrs       map[string]string // directories' extended attributes
}

// Record returns what the directory dir (an absolute path, resolved inside
// the current root with no symlink followed) holds on its mount. It puts
// back the times its own reading moved, as Clear does.
func Record(dir string) (*Tree, error) {
	t := &Tree{entries: map[string]Entry{}}
	err := walk(dir, func(fd int, mnt uint64) error {
		var stx unix.Statx_t
		if err := statx(fd, "", &stx); err != nil {
			return err
		}
		t.root = entryOf(&stx)
		var err error
		if t.root.Xattrs, err = xattrs(fd); err != nil {
			return err
		}
		if err := recordAt(fd, mnt, "", t, 0); err != nil {
			return err
		}
		t.free, err = free(fd)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, Clear(dir, t)
}

// Clear empties the directory dir down to what it held when it was
// recorded (t): every other file and directory in it is removed; mount
// points and what is below them belong to other mounts and stay. It fails
// when an entry of t is gone or was changed (the caller cannot restore
// it). The directory and the directories of t get their mode and extended
// attributes back; they and every other entry of t get their access and
// modification times back, always, so their change times say when the
// last reset was and nothing of what the run did. With t.Private it
// fails, too, when the filesystem has less free space or inodes than when
// recorded (something the run left holds deleted files).
func Clear(dir string, t *Tree) error {
	return walk(dir, func(fd int, mnt uint64) error {
		var stx unix.Statx_t
		if err := statx(fd, "", &stx); err != nil {
			return err
		}
		if !sameFile(&t.root, &stx) {
			return errors.New("the mount's root was changed")
		}
		if stx.Mode != t.root.Mode {
			if err := unix.Fchmod(fd, uint32(t.root.Mode&0o7777)); err != nil {
				return err
			}
		}
		if err := restoreXattrs(fd, t.root.Xattrs); err != nil {
			return err
		}
		seen := 0
		if err := clearAt(fd, mnt, "", t, &seen, 0); err != nil {
			return err
		}
		if seen != len(t.entries) {
			return errors.New("entries of the built sandbox are gone")
		}
		if err := setTimes(fd, "", unix.AT_EMPTY_PATH, &t.root); err != nil {
			return err
		}
		if !t.Private {
			return nil
		}
		if f, err := free(fd); err != nil || f != t.free {
			if err == nil {
				err = fmt.Errorf("free blocks and inodes %d, built with %d", f, t.free)
			}
			return err
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
			unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_UID|unix.STATX_GID|unix.STATX_INO|
				unix.STATX_ATIME|unix.STATX_MTIME|unix.STATX_CTIME|unix.STATX_MNT_ID, &stx)
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
	e := Entry{Ino: stx.Ino, Mode: stx.Mode, UID: stx.Uid, GID: stx.Gid, Atime: stx.Atime, Mtime: stx.Mtime}
	if stx.Mode&unix.S_IFMT != unix.S_IFDIR {
		e.Ctime = stx.Ctime
	}
	return e
}

// sameFile reports whether stx is the file e recorded, unchanged but for
// what Clear puts back (a directory's mode, extended attributes and times;
// any file's access time).
func sameFile(e *Entry, stx *unix.Statx_t) bool {
	if stx.Ino != e.Ino || stx.Mode&unix.S_IFMT != e.Mode&unix.S_IFMT || stx.Uid != e.UID || stx.Gid != e.GID {
		return false
	}
	return stx.Mode&unix.S_IFMT == unix.S_IFDIR || stx.Mode == e.Mode && stx.Ctime == e.Ctime
}

func recordAt(fd int, mnt uint64, prefix string, t *Tree, depth int) error {
	names, stats, err := entries(fd, mnt, depth)
	if err != nil {
		return err
	}
	for i, name := range names {
		e := entryOf(&stats[i])
		if stats[i].Mode&unix.S_IFMT == unix.S_IFDIR {
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			e.Xattrs, err = xattrs(sub)
			if err == nil {
				err = recordAt(sub, mnt, prefix+name+"/", t, depth+1)
			}
			unix.Close(sub)
			if err != nil {
				return err
			}
		}
		t.entries[prefix+name] = e
	}
	return nil
}

// clearAt removes what directory fd holds on mount mnt but the entries of
// t (under prefix), whose metadata it puts back, counting in seen the
// entries of t it found.
func clearAt(fd int, mnt uint64, prefix string, t *Tree, seen *int, depth int) error {
	names, stats, err := entries(fd, mnt, depth)
	if err != nil {
		return err
	}
	for i, name := range names {
		rel, stx := prefix+name, &stats[i]
		isDir := stx.Mode&unix.S_IFMT == unix.S_IFDIR
		kept, ok := t.entries[rel]
		if ok {
			*seen++
			if !sameFile(&kept, stx) {
				return errors.New(rel + " of the built sandbox was changed")
			}
		}
		if isDir {
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			if ok {
				err = restoreXattrs(sub, kept.Xattrs)
			}
			if err == nil {
				err = clearAt(sub, mnt, rel+"/", t, seen, depth+1)
			}
			unix.Close(sub)
			if err != nil {
				return err
			}
		}
		if ok {
			if err := restoreEntry(fd, name, rel, t, &kept, stx); err != nil {
				return err
			}
			continue
		}
		flags := 0
		if isDir {
			flags = unix.AT_REMOVEDIR
		}
		if err := unlinkat(fd, name, flags); err != nil {
			return err
		}
	}
	return nil
}

// restoreEntry puts back the mode (a directory's) and times of the entry
// name of directory fd, recorded as kept under rel in t, now stx; and
// notes the change time that gives it.
func restoreEntry(fd int, name, rel string, t *Tree, kept *Entry, stx *unix.Statx_t) error {
	if stx.Mode != kept.Mode {
		if err := unix.Fchmodat(fd, name, uint32(kept.Mode&0o7777), 0); err != nil {
			return err
		}
	}
	if err := setTimes(fd, name, unix.AT_SYMLINK_NOFOLLOW, kept); err != nil {
		return err
	}
	if kept.Mode&unix.S_IFMT != unix.S_IFDIR {
		var now unix.Statx_t
		if err := statx(fd, name, &now); err != nil {
			return err
		}
		kept.Ctime = now.Ctime
		t.entries[rel] = *kept
	}
	return nil
}

// unlinkat removes name from directory fd (gone already is fine).
func unlinkat(fd int, name string, flags int) error {
	if err := unix.Unlinkat(fd, name, flags); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// statx stats name in directory fd ("" for fd itself), not following a
// symlink and not reading the directory (which would move its access time).
func statx(fd int, name string, stx *unix.Statx_t) error {
	return unix.Statx(fd, name, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC,
		unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_UID|unix.STATX_GID|unix.STATX_INO|unix.STATX_ATIME|unix.STATX_MTIME|unix.STATX_CTIME, stx)
}

// setTimes sets the access and modification times of name in directory
// fd to e's.
func setTimes(fd int, name string, flags int, e *Entry) error {
	// NsecToTimespec: Timespec's fields are 32 bits wide on 386 and arm.
	ts := []unix.Timespec{
		unix.NsecToTimespec(e.Atime.Sec*1e9 + int64(e.Atime.Nsec)),
		unix.NsecToTimespec(e.Mtime.Sec*1e9 + int64(e.Mtime.Nsec)),
	}
	return unix.UtimesNanoAt(fd, name, ts, flags)
}

// free returns the free blocks and inodes of the filesystem fd is on.
func free(fd int) ([2]uint64, error) {
	var st unix.Statfs_t
	err := unix.Fstatfs(fd, &st)
	return [2]uint64{st.Bfree, st.Ffree}, err
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
