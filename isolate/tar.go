package isolate

// Files in and out of a directory as tar streams, every name resolved
// beneath the directory's fd (openBeneath): nothing a stream names, and
// nothing planted in the directory, reaches a file outside it.

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The steps of the errors ExtractTar and ArchiveTar return (Error.Step);
// Error.Path is the entry's name.
const (
	StepExtract = "extract"
	StepArchive = "archive"
)

// ExtractTar extracts the tar stream r beneath the directory dir, as the
// user that calls it: the entries' uid and gid are ignored. Every name is
// resolved beneath dir through no symlink and no mount point (openat2, or
// a walk where the kernel or a seccomp filter lacks it), so:
//   - an absolute name or one with a ".." component is refused (ErrEscape);
//   - a symlink entry is created as it is, its target unchanged, and never
//     followed: a later entry through it, or through a symlink that was in
//     dir beforehand, fails (ELOOP), as does one across a mount (EXDEV);
//   - a hard link entry links to a file beneath dir (its name is resolved
//     the same way), never to one outside;
//   - device, fifo and other special entries are refused.
//
// A file or symlink replaces what its name held (but a directory); a
// directory entry for an existing directory sets its mode. Modes keep their
// permission bits only (no set-uid, set-gid or sticky bit); modification
// times are the entries'. Directories' modes and times are set last (they
// are writable by their owner meanwhile), missing parents are made 0755. The error is an *Error
// (Step StepExtract, Path the entry's name) wrapping the cause: an errno
// (ENOSPC when dir's filesystem is full, EDQUOT, ELOOP, EXDEV) or
// ErrEscape. Entries before the failing one stay extracted.
func ExtractTar(dir *os.File, r io.Reader) error {
	x := &extractor{dir: int(dir.Fd())}
	var err error
	if x.dev, err = fdDev(x.dir); err != nil {
		return stepErr(StepExtract, dir.Name(), err)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return stepErr(StepExtract, "", fmt.Errorf("reading the tar stream: %w", err))
		}
		if err := x.entry(h, tr); err != nil {
			return stepErr(StepExtract, h.Name, err)
		}
	}
	// Directories' modes and times last: the entries in them needed
	// them writable, and changed their times.
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.setDir(d); err != nil {
			return stepErr(StepExtract, d.name, err)
		}
	}
	return nil
}

// extractor is one ExtractTar.
type extractor struct {
	dir  int
	dev  uint64
	dirs []dirTime
}

type dirTime struct {
	name  string
	perm  uint32
	mtime time.Time
}

// entry extracts one entry.
func (x *extractor) entry(h *tar.Header, r io.Reader) error {
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	perm := uint32(h.Mode) & 0o777
	switch h.Typeflag {
	case tar.TypeDir:
		if err := x.mkdirAll(name, perm); err != nil {
			return err
		}
		fd, err := openBeneath(x.dir, x.dev, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		// Writable meanwhile, for the entries in it; its mode is set last.
		if err := unix.Fchmod(fd, perm|0o700); err != nil {
			return err
		}
		x.dirs = append(x.dirs, dirTime{name, perm, h.ModTime})
		return nil
	case tar.TypeReg, tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeSymlink, tar.TypeLink:
	default:
		return fmt.Errorf("entry type %q is not supported (only files, directories, symlinks and hard links)", h.Typeflag)
	}
	if name == "" {
		return errors.New("only a directory entry may name the directory itself")
	}
	switch h.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return errors.New("device and fifo entries are refused")
	}
	parentName, last := split(name)
	if err := x.mkdirAll(parentName, 0o755); err != nil {
		return err
	}
	parent, err := openBeneath(x.dir, x.dev, parentName, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	// What the name held goes (a directory stays, and the entry fails);
	// then the entry is created anew, never opened through a symlink.
	if err := unix.Unlinkat(parent, last, 0); err != nil && err != unix.ENOENT {
		return err
	}
	switch h.Typeflag {
	case tar.TypeSymlink:
		if err := unix.Symlinkat(h.Linkname, parent, last); err != nil {
			return err
		}
		return setTimeAt(parent, last, h.ModTime)
	case tar.TypeLink:
		target, err := cleanName(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
		tParent, tLast := split(target)
		tp, err := openBeneath(x.dir, x.dev, tParent, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
		defer unix.Close(tp)
		// Flags 0: a symlink is linked as itself, never followed.
		return unix.Linkat(tp, tLast, parent, last, 0)
	}
	fd, err := unix.Openat(parent, last, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		// A file cut short (a full mount, a stream that ended) is removed,
		// so that it does not hold the space the next copy needs. The name
		// is still the file this call made: parent is held, and only
		// whoever can write there could have swapped it.
		unix.Unlinkat(parent, last, 0)
		return err
	}
	if err := unix.Fchmod(fd, perm); err != nil {
		return err
	}
	return futimens(fd, timespecs(h.ModTime))
}

// mkdirAll makes the directory name and its parents beneath the directory,
// each missing one with perm, one component at a time.
func (x *extractor) mkdirAll(name string, perm uint32) error {
	if name == "" {
		return nil
	}
	cur, err := unix.FcntlInt(uintptr(x.dir), unix.F_DUPFD_CLOEXEC, 0) // close-on-exec: a Box starts commands while copies work
	if err != nil {
		return err
	}
	defer func() { unix.Close(cur) }()
	for c := range splitSeq(name) {
		if err := unix.Mkdirat(cur, c, perm); err != nil && err != unix.EEXIST {
			return err
		}
		next, err := openBeneath(cur, x.dev, c, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		unix.Close(cur)
		cur = next
	}
	return nil
}

// setDir sets the mode and modification time of the directory d.
func (x *extractor) setDir(d dirTime) error {
	fd, err := openBeneath(x.dir, x.dev, d.name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, d.perm); err != nil {
		return err
	}
	return futimens(fd, timespecs(d.mtime))
}

// setTimeAt sets the modification time of the symlink last in parent.
func setTimeAt(parent int, last string, t time.Time) error {
	ts := timespecs(t)
	return unix.UtimesNanoAt(parent, last, ts[:], unix.AT_SYMLINK_NOFOLLOW)
}

// timespecs is access and modification time t, for utimensat; the zero
// time leaves both as they are.
func timespecs(t time.Time) *[2]unix.Timespec {
	if t.IsZero() {
		omit := unix.Timespec{Nsec: unix.UTIME_OMIT}
		return &[2]unix.Timespec{omit, omit}
	}
	ts := unix.NsecToTimespec(t.UnixNano())
	return &[2]unix.Timespec{ts, ts}
}
