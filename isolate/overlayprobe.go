package isolate

import (
	"errors"

	"golang.org/x/sys/unix"
)

// ErrOverlayNoXattr says an overlay mounted, but its upper layer keeps no
// extended attributes: tmpfs has user extended attributes only since
// Linux 6.6, and in a user namespace overlayfs may use no others. Such an
// overlay works, except that a directory of the image that is not empty
// cannot be removed (EIO).
var ErrOverlayNoXattr = errors.New("the overlay's upper layer (tmpfs) has no extended attributes, which tmpfs has since Linux 6.6: removing a non-empty directory of an image fails (EIO)")

// ProbeOverlay mounts, in the current (new) mount namespace, an overlay the
// way an image's root is built, on a tmpfs at /tmp (/proc without one);
// then it writes a file through it and removes and makes again a directory
// of the lower layer that holds a file. It returns nil if all of that
// worked, an error matching ErrOverlayNoXattr if only the removal failed,
// or the error that stopped it. The probe's namespace is its own: nothing
// of it is left.
func ProbeOverlay() error {
	if err := MakePrivate(); err != nil {
		return err
	}
	staging := "/tmp"
	if unix.Access(staging, unix.F_OK) != nil {
		staging = "/proc"
	}
	if err := mountTmpfs(unix.AT_FDCWD, staging, 1<<20, 0o700, false); err != nil {
		return stepErr("tmpfs", staging, err)
	}
	for _, d := range []string{"lower", "lower/d", "upper", "work", imageRootDir} {
		if err := unix.Mkdir(staging+"/"+d, 0o755); err != nil {
			return stepErr("mkdir", staging+"/"+d, err)
		}
	}
	if err := touch(staging + "/lower/d/f"); err != nil {
		return err
	}
	t, err := unix.Open(staging, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(t)
	lower, err := unix.Open(staging+"/lower", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(lower)
	root := staging + "/" + imageRootDir
	if err := mountOverlay(t, lower, 0o755, root); err != nil {
		return stepErr("overlay", root, err)
	}
	if err := touch(root + "/probe"); err != nil {
		return err
	}
	err = unix.Unlink(root + "/d/f")
	if err == nil {
		err = unix.Rmdir(root + "/d")
	}
	if err == nil {
		err = unix.Mkdir(root+"/d", 0o755)
	}
	if err != nil {
		return &Error{Step: "overlay", Path: root + "/d", Err: errors.Join(ErrOverlayNoXattr, err)}
	}
	return nil
}

// touch creates the empty file p.
func touch(p string) error {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return stepErr("write", p, err)
	}
	return unix.Close(fd)
}
