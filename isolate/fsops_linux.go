package isolate

// The raw mount-API and path-resolution calls of this package. Every path
// inside the new root is resolved with openat2(RESOLVE_IN_ROOT), so a symlink
// in a custom root cannot point a mount or a write outside it.

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// openTree clones the mount tree at path as a detached tree. path must be
// canonical: no component may be a symlink (so one swapped in after the
// caller resolved it fails with ELOOP rather than redirecting the bind).
func openTree(dirfd int, path string) (int, error) {
	fd, err := unix.Openat2(dirfd, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, err
	}
	defer unix.Close(fd)
	return unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
}

// moveMount attaches the detached tree fd at path (relative to dirfd) and closes fd.
func moveMount(fd, dirfd int, path string) error {
	defer unix.Close(fd)
	flags := unix.MOVE_MOUNT_F_EMPTY_PATH
	if path == "" {
		flags |= unix.MOVE_MOUNT_T_EMPTY_PATH
	}
	return unix.MoveMount(fd, "", dirfd, path, flags)
}

// graft sets attrs on the detached tree fd (recursively) and attaches it on
// the target fd. It closes fd.
func graft(fd int, attrs uint64, target int) error {
	if err := setAttr(fd, attrs); err != nil {
		unix.Close(fd)
		return err
	}
	return moveMount(fd, target, "")
}

// setAttr sets mount attributes on the mount fd refers to and on all below it.
func setAttr(fd int, attrs uint64) error {
	return unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: attrs})
}

// mountFS creates a new filesystem of type fstype with opts and attaches it
// at path relative to dirfd ("" for dirfd itself).
func mountFS(dirfd int, fstype string, opts [][2]string, attrs int) error {
	return mountFSAt(dirfd, "", fstype, opts, attrs)
}

func mountFSAt(dirfd int, path, fstype string, opts [][2]string, attrs int) error {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fsfd)
	for _, o := range opts {
		if o[1] == "" {
			err = unix.FsconfigSetFlag(fsfd, o[0])
		} else {
			err = unix.FsconfigSetString(fsfd, o[0], o[1])
		}
		if err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return err
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return err
	}
	return moveMount(mfd, dirfd, path)
}

// mountTmpfs mounts a nosuid, nodev tmpfs at path relative to dirfd.
func mountTmpfs(dirfd int, path string, size int64, mode uint32, readOnly bool) error {
	opts := [][2]string{{"mode", "0" + strconv.FormatUint(uint64(mode), 8)}}
	if size > 0 {
		opts = append(opts, [2]string{"size", strconv.FormatInt(size, 10)})
	}
	attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	if readOnly {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	return mountFSAt(dirfd, path, "tmpfs", opts, attrs)
}

// resolveIn opens p (absolute, inside the root) as an O_PATH fd, resolving
// every symlink and ".." as if rootfd were "/"; with noFollow, a symlink
// at the last component is opened itself.
func resolveIn(rootfd int, p string, noFollow bool) (int, error) {
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "."
	}
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if noFollow {
		flags |= unix.O_NOFOLLOW
	}
	for {
		fd, err := unix.Openat2(rootfd, rel, &unix.OpenHow{
			Flags:   flags,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
}

// mkdirAllIn creates directory p and its parents inside the root and returns
// an O_PATH fd of it.
func mkdirAllIn(rootfd int, p string) (int, error) {
	fd, err := resolveIn(rootfd, p, false)
	if err != unix.ENOENT {
		return fd, err
	}
	parent, base := splitPath(p)
	pfd, err := mkdirAllIn(rootfd, parent)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil && err != unix.EEXIST {
		return -1, err
	}
	return resolveIn(rootfd, p, false)
}

// ensureTarget returns an O_PATH fd of the mountpoint for m, creating it (a
// directory, or an empty file when the source is not a directory) if missing.
func ensureTarget(rootfd int, p string, m Mount, srcfd int) (int, error) {
	fd, err := resolveIn(rootfd, p, m.NoFollow)
	if err != unix.ENOENT {
		return fd, err
	}
	dir := true
	if srcfd >= 0 && (m.Kind == Bind || m.Kind == Device) {
		var st unix.Stat_t
		if err := unix.Fstat(srcfd, &st); err != nil {
			return -1, err
		}
		dir = st.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	if dir {
		return mkdirAllIn(rootfd, p)
	}
	if err := writeFileIn(rootfd, p, nil, 0o644, false); err != nil {
		return -1, err
	}
	return resolveIn(rootfd, p, m.NoFollow)
}

// writeFileIn creates (or truncates) the file p inside the root with data.
// A symlink at p is never followed: it fails with ELOOP, or with replace
// it is removed, as is whatever else p names but a directory, and a new
// file takes its place. Replace only in a root the sandbox owns (an
// image's writable layer): an image's /etc/resolv.conf may be a symlink
// whose target is on the host's side until the pivot.
func writeFileIn(rootfd int, p string, data []byte, mode uint32, replace bool) error {
	parent, base := splitPath(p)
	pfd, err := mkdirAllIn(rootfd, parent)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if replace {
		if err := unix.Unlinkat(pfd, base, 0); err != nil && err != unix.ENOENT {
			return err
		}
		flags |= unix.O_EXCL
	}
	fd, err := unix.Openat(pfd, base, flags, mode)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return unix.Fchmod(fd, mode)
}

func splitPath(p string) (dir, base string) {
	p = strings.TrimRight(p, "/")
	i := strings.LastIndex(p, "/")
	if i <= 0 {
		return "/", p[i+1:]
	}
	return p[:i], p[i+1:]
}
