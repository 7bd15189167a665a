package unpack

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// dirMode is the mode of a directory entry: permission bits and the
// sticky bit (set-group-ID dropped).
func dirMode(h *tar.Header) os.FileMode {
	m := os.FileMode(h.Mode) & os.ModePerm
	if h.Mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// fileMode is the mode of a file entry: permission bits only.
func fileMode(h *tar.Header) os.FileMode { return os.FileMode(h.Mode) & os.ModePerm }

// dir applies a directory entry. A directory already there stays, with
// what it holds; anything else there is replaced. Its mode and time are
// applied by finish; until then it is writable.
func (l *layer) dir(name string, h *tar.Header) error {
	if err := l.parent(name); err != nil {
		return err
	}
	if _, err := l.clear(name, true); err != nil {
		return err
	}
	if _, err := l.prepareDir(name, true); err != nil {
		return err
	}
	l.dirs[name] = dirAttr{mode: dirMode(h), mtime: h.ModTime, seq: l.seq}
	l.add(name)
	l.st.Dirs++
	return nil
}

// file applies a regular file entry, its content read from r.
func (l *layer) file(name string, h *tar.Header, r io.Reader) error {
	if err := l.count(h.Size); err != nil {
		return err
	}
	if err := l.parent(name); err != nil {
		return err
	}
	var f *os.File
	err := l.replace(name, func() (err error) {
		f, err = l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("creating the file: %w", rootErr(err))
	}
	n, err := l.copy(f, r, h.Size)
	if err == nil {
		err = f.Chmod(fileMode(h)) // on the open file: no umask, no race
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	l.st.Bytes += n - h.Size // count counted h.Size
	l.add(name)
	if err != nil {
		return fmt.Errorf("writing the file: %w", err)
	}
	if err := l.root.Chtimes(name, h.ModTime, h.ModTime); err != nil {
		return fmt.Errorf("setting the file's modification time: %w", rootErr(err))
	}
	l.st.Files++
	return nil
}

// replace runs create, which creates name and fails with an error
// matching fs.ErrExist if something is there already: then that is
// removed and create runs again. (Trying first saves a lookup for each
// new name, most of a layer's.) name's parent must be prepared.
func (l *layer) replace(name string, create func() error) error {
	err := create()
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, err := l.clear(name, false); err != nil {
		return err
	}
	return create()
}

// count adds size to Stats.Bytes, or reports an error matching ErrTooBig
// if that would bring it past Options.MaxBytes.
func (l *layer) count(size int64) error {
	if max := l.opts.MaxBytes; max > 0 && size > max-l.st.Bytes {
		return fmt.Errorf("its %d bytes would bring the layer to %d bytes, past the bound of %d (Options.MaxBytes): %w",
			size, l.st.Bytes+size, max, ErrTooBig)
	}
	l.st.Bytes += size
	return nil
}

// copy copies size bytes from r to f through the layer's buffer
// (os.File.ReadFrom would use a small one of its own) and returns the
// number of bytes written.
func (l *layer) copy(f *os.File, r io.Reader, size int64) (int64, error) {
	var n int64
	for n < size {
		chunk := l.buf[:min(int64(len(l.buf)), size-n)]
		m, err := io.ReadFull(r, chunk)
		if m > 0 {
			w, werr := f.Write(chunk[:m])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return n, fmt.Errorf("reading the layer after %d bytes of the file's %d: %w", n, size, err)
		}
	}
	return n, nil
}

// symlink applies a symbolic link entry, creating the link as the layer
// has it: its target is not looked at (it resolves in the sandbox).
func (l *layer) symlink(name string, h *tar.Header) error {
	if err := l.parent(name); err != nil {
		return err
	}
	if err := l.replace(name, func() error { return l.root.Symlink(h.Linkname, name) }); err != nil {
		return fmt.Errorf("creating the symbolic link: %w", rootErr(err))
	}
	l.add(name)
	l.st.Symlinks++
	return nil
}

// hardlink applies a hard link entry: its target must be a regular file
// already in the root, reached without leaving it.
func (l *layer) hardlink(name string, h *tar.Header) error {
	target, err := cleanName(h.Linkname, "its hard link target")
	if err != nil {
		return err
	}
	if _, err := l.prepareDir(path.Dir(target), false); err != nil { // searchable, if read-only
		return fmt.Errorf("its hard link target %q: %w", h.Linkname, err)
	}
	fi, err := l.root.Lstat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("its hard link target %q is not in the root (a layer may only link to files unpacked before): %w",
			h.Linkname, ErrUnsafe)
	case err != nil:
		return fmt.Errorf("its hard link target %q: %w", h.Linkname, rootErr(err))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("its hard link target %q is a %s, not a regular file: %w", h.Linkname, kind(fi), ErrUnsafe)
	}
	if err := l.count(fi.Size()); err != nil {
		return err
	}
	if target == name {
		l.add(name)
		return nil // a link to itself: nothing to do
	}
	if err := l.parent(name); err != nil {
		return err
	}
	if err := l.replace(name, func() error { return l.root.Link(target, name) }); err != nil {
		return fmt.Errorf("creating the hard link to %q: %w", h.Linkname, rootErr(err))
	}
	l.add(name)
	l.st.HardLinks++
	return nil
}
