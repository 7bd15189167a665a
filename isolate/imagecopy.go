package isolate

// The copy of an image into a tmpfs root, where overlayfs is refused.

import (
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// copyTree copies the directory src (any fd of it) into the directory dst
// (open for reading): directories, regular files and symlinks, with their
// permission bits (set-id bits dropped) and modification times; anything
// else (devices, fifos, sockets) is left out, and hard links become copies.
// Nothing is followed: src's entries are opened with O_NOFOLLOW, beneath
// src. A directory's mode and times are set once it is filled, so that a
// read-only directory can be. rel names src inside the image, for errors.
func copyTree(src, dst int, rel string) error {
	dir, err := unix.Openat(src, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stepErr("copy image", rel, err)
	}
	f := os.NewFile(uintptr(dir), rel)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return stepErr("copy image", rel, err)
	}
	for _, name := range names {
		if err := copyEntry(dir, dst, name, path.Join(rel, name)); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry copies the entry name of the directory src into dst.
func copyEntry(src, dst int, name, rel string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return stepErr("copy image", rel, err)
	}
	mode := st.Mode & 0o777
	times := []unix.Timespec{st.Atim, st.Mtim}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil {
			return stepErr("copy image", rel, err)
		}
		s, err := unix.Openat(src, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("copy image", rel, err)
		}
		d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(s)
			return stepErr("copy image", rel, err)
		}
		err = copyTree(s, d, rel)
		unix.Close(s)
		if err == nil {
			err = stepErr("copy image", rel, unix.Fchmod(d, mode|st.Mode&unix.S_ISVTX))
		}
		if err == nil {
			err = stepErr("copy image", rel, futimens(d, (*[2]unix.Timespec)(times)))
		}
		unix.Close(d)
		return err
	case unix.S_IFREG:
		return stepErr("copy image", rel, copyFileAt(src, dst, name, mode, times))
	case unix.S_IFLNK:
		target, err := readlinkAt(src, name)
		if err == nil {
			err = unix.Symlinkat(target, dst, name)
		}
		if err == nil {
			err = unix.UtimesNanoAt(dst, name, times, unix.AT_SYMLINK_NOFOLLOW)
		}
		return stepErr("copy image", rel, err)
	}
	return nil // a device, fifo or socket: an image's root holds none
}

// copyFileAt copies the regular file name of src into dst with mode and times.
func copyFileAt(src, dst int, name string, mode uint32, times []unix.Timespec) error {
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	in := os.NewFile(uintptr(s), name)
	defer in.Close()
	d, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(d), name)
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if err := unix.Fchmod(d, mode); err != nil {
		return err
	}
	return futimens(d, (*[2]unix.Timespec)(times))
}

// readlinkAt returns the target of the symlink name in dir.
func readlinkAt(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
