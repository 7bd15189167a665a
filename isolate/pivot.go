package isolate

import "golang.org/x/sys/unix"

// MakePrivate makes every mount of the current mount namespace private, so
// that nothing mounted from now on propagates to the host.
func MakePrivate() error {
	return stepErr("make mounts private", "/", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""))
}

// PivotRoot makes newRoot (a mount point) the root of the mount namespace and
// detaches the old root entirely, then changes to the new "/".
func PivotRoot(newRoot string) error {
	if err := unix.Chdir(newRoot); err != nil {
		return stepErr("pivot_root", newRoot, err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; detaching
	// "." then removes it, with no directory left behind for it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return stepErr("pivot_root", newRoot, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return stepErr("detach old root", "/", err)
	}
	return stepErr("chdir", "/", unix.Chdir("/"))
}
