package isolate

// An image's root: the unpacked image, never written, under a writable
// layer that is discarded with the sandbox. Overlayfs where the kernel
// allows it in a user namespace, else a tmpfs copy of the image.

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"
)

// The ways an image root is built (Root.Image), as ImageRootKind names them.
const (
	ImageOverlay = "overlay" // overlayfs: the image the lower layer, upper and work dirs on a tmpfs
	ImageCopy    = "copy"    // a tmpfs holding a copy of the image
)

// imageRootDir is where, beneath the staging directory, an image root is
// mounted: the staging directory itself holds a tmpfs with the overlay's
// upper and work directories and this mountpoint.
const imageRootDir = "root"

// Staged returns where BuildRoot(staging, r, ...) puts the new root: the
// directory to pivot into.
func (r Root) Staged(staging string) string {
	if r.Image {
		return staging + "/" + imageRootDir
	}
	return staging
}

// openImage opens the image directory as an O_PATH fd, without following
// any symlink: the overlay's lower layer or the copy's source, opened before
// anything is mounted over its path.
func openImage(dir string) (int, error) {
	return unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// overlayRefused reports whether err is the kernel refusing overlayfs here
// (no overlay module, or not in a user namespace, or an option it lacks):
// then the image is copied instead.
func overlayRefused(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP)
}

// buildImageRoot mounts the image fd (openImage) as the root at
// staging/root (Staged), an overlay (unless r.Copy) or a copy, and reports
// which one it built (ImageOverlay, ImageCopy). It closes fd. The upper
// layer's tmpfs, or the copy's, is r.Size bytes (0: the kernel's default);
// a copy that does not fit fails with ENOSPC.
func buildImageRoot(staging string, r Root, fd int) (string, error) {
	defer unix.Close(fd)
	mode, err := dirMode(fd)
	if err != nil {
		return "", stepErr("image", r.Dir, err)
	}
	if err := mountTmpfs(unix.AT_FDCWD, staging, r.Size, 0o700, false); err != nil {
		return "", stepErr("tmpfs", staging, err)
	}
	t, err := unix.Open(staging, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", stepErr("image", staging, err)
	}
	defer unix.Close(t)
	for _, d := range []struct {
		name string
		mode uint32
	}{{"upper", 0o700}, {"work", 0o700}, {imageRootDir, 0o700}} {
		if err := unix.Mkdirat(t, d.name, d.mode); err != nil {
			return "", stepErr("image", staging+"/"+d.name, err)
		}
	}
	root := staging + "/" + imageRootDir
	if !r.Copy {
		err := mountOverlay(t, fd, mode, root)
		if err == nil {
			return ImageOverlay, nil
		}
		if !overlayRefused(err) {
			return "", stepErr("overlay", r.Dir, err)
		}
	}
	if err := mountTmpfs(unix.AT_FDCWD, root, r.Size, mode, false); err != nil {
		return "", stepErr("tmpfs", "/", err)
	}
	dst, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", stepErr("copy image", "/", err)
	}
	defer unix.Close(dst)
	if err := copyTree(fd, dst, "/"); err != nil {
		return "", stepErr("copy image", "/", err)
	}
	return ImageCopy, nil
}

// dirMode returns the permission bits of the directory fd.
func dirMode(fd int) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Mode & 0o1777, nil
}

// mountOverlay mounts at root the overlay of the image fd (the lower
// layer) and t's upper and work directories (t: the staging tmpfs). The
// upper layer takes the image root's mode, so the merged root looks like
// the image's.
//
// In a user namespace (Linux 5.11 and newer) overlayfs keeps its own
// extended attributes in the user.overlay. namespace with the userxattr
// option (trusted. needs CAP_SYS_ADMIN of the host); tmpfs has user
// extended attributes only since 6.6: before, the overlay mounts without
// them (the kernel logs that the upper layer lacks xattr support) and a
// directory of the image that is removed cannot be made again. A kernel
// that lacks the option refuses it (EINVAL): then the overlay is tried
// without it.
func mountOverlay(t, fd int, mode uint32, root string) error {
	up, err := unix.Openat(t, "upper", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = unix.Fchmod(up, mode)
	unix.Close(up)
	if err != nil {
		return err
	}
	self := "/proc/self/fd/"
	opts := [][2]string{
		{"lowerdir", self + strconv.Itoa(fd)},
		{"upperdir", self + strconv.Itoa(t) + "/upper"},
		{"workdir", self + strconv.Itoa(t) + "/work"},
	}
	attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	err = mountFSAt(unix.AT_FDCWD, root, "overlay", append(opts, [2]string{"userxattr", ""}), attrs)
	if err != unix.EINVAL {
		return err
	}
	return mountFSAt(unix.AT_FDCWD, root, "overlay", opts, attrs)
}
