package isolate

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ArchiveTar writes a tar stream of the files and directory trees names
// name beneath the directory dir to w (it does not close w). Every name is
// resolved beneath dir through no symlink and no mount point, as
// ExtractTar resolves them, and a tree is walked by fds, each entry opened
// beneath its directory's fd with O_NOFOLLOW, so nothing outside dir is
// read, whatever dir holds or however it changes meanwhile:
//   - a name through a symlink fails (ELOOP), one across a mount EXDEV;
//     ".." and absolute names are refused (ErrEscape);
//   - a symlink is stored as a symlink, never followed;
//   - a regular file's content is read from the fd opened for it
//     (O_NONBLOCK and O_NOCTTY, and only once fstat says it is regular):
//     a fifo, socket or device is never read, and fails the archive;
//   - a directory on another filesystem (a mount point) fails it too.
//
// Entries carry the names as given (cleaned), the mode's permission bits,
// the modification time, and uid and gid 0. The error is an *Error (Step
// StepArchive, Path the entry's name).
func ArchiveTar(dir *os.File, names []string, w io.Writer) error {
	fd := int(dir.Fd())
	dev, err := fdDev(fd)
	if err != nil {
		return stepErr(StepArchive, dir.Name(), err)
	}
	tw := tar.NewWriter(w)
	for _, n := range names {
		name, err := cleanName(n)
		if err == nil && name == "" {
			err = errors.New("name the files and directories beneath the directory, not itself")
		}
		if err != nil {
			return stepErr(StepArchive, n, err)
		}
		parentName, last := split(name)
		parent, err := openBeneath(fd, dev, parentName, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return stepErr(StepArchive, n, err)
		}
		err = archiveAt(tw, parent, dev, last, name)
		unix.Close(parent)
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return stepErr(StepArchive, "", err)
	}
	return nil
}

// archiveAt writes the entry last of the directory parent, as name, and
// what it holds when it is a directory.
func archiveAt(tw *tar.Writer, parent int, dev uint64, last, name string) error {
	fail := func(err error) error { return stepErr(StepArchive, name, err) }
	fd, err := unix.Openat(parent, last, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP {
		return archiveSymlink(tw, parent, last, name)
	}
	if err != nil {
		return fail(err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(err)
	}
	if st.Dev != dev {
		return fail(unix.EXDEV)
	}
	h := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o777),
		ModTime: time.Unix(st.Mtim.Unix()),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		h.Typeflag, h.Size = tar.TypeReg, st.Size
		if err := tw.WriteHeader(h); err != nil {
			return fail(err)
		}
		n, err := io.CopyN(tw, f, st.Size)
		if err == io.EOF {
			err = fmt.Errorf("the file shrank while it was archived (%d of %d bytes)", n, st.Size)
		}
		if err != nil {
			return fail(err)
		}
		return nil
	case unix.S_IFDIR:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
		if err := tw.WriteHeader(h); err != nil {
			return fail(err)
		}
		entries, err := f.ReadDir(-1)
		if err != nil {
			return fail(err)
		}
		for _, e := range entries {
			if err := archiveAt(tw, fd, dev, e.Name(), name+"/"+e.Name()); err != nil {
				return err
			}
		}
		return nil
	default:
		return fail(fmt.Errorf("not a regular file, directory or symlink (mode %#o): not archived", st.Mode&unix.S_IFMT))
	}
}

// archiveSymlink writes the symlink last of the directory parent, as name.
func archiveSymlink(tw *tar.Writer, parent int, last, name string) error {
	fail := func(err error) error { return stepErr(StepArchive, name, err) }
	var st unix.Stat_t
	if err := unix.Fstatat(parent, last, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fail(err)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(parent, last, buf)
	if err != nil {
		return fail(err)
	}
	h := &tar.Header{
		Typeflag: tar.TypeSymlink,
		Name:     name,
		Linkname: string(buf[:n]),
		Mode:     0o777,
		ModTime:  time.Unix(st.Mtim.Unix()),
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(h); err != nil {
		return fail(err)
	}
	return nil
}
