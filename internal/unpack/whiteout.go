package unpack

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// whiteout applies the whiteout entry name, whose base name is base.
// What it removes is what lower layers put there: a name this layer adds
// stays, whichever of the two entries comes first in the layer.
func (l *layer) whiteout(name, base string) error {
	dir := path.Dir(name)
	if base == whOpaque {
		l.st.Whiteouts++
		return l.prune(dir, true)
	}
	if strings.HasPrefix(base, whPrefix+whPrefix) {
		l.st.Dropped++ // another file system's bookkeeping (aufs: .wh..wh.plnk ...)
		return nil
	}
	hidden := base[len(whPrefix):]
	if hidden == "" || hidden == "." || hidden == ".." {
		return fmt.Errorf("a whiteout must name a file in its directory, not %q: %w", hidden, ErrUnsafe)
	}
	l.st.Whiteouts++
	target := path.Join(dir, hidden)
	if l.added[target] || l.ancestors[target] {
		return l.prune(target, false) // this layer's stays; what is beneath may go
	}
	ok, err := l.prepareDir(dir, false)
	if err != nil || !ok {
		return err // no directory, nothing to remove
	}
	if _, err := l.clear(target, false); err != nil {
		return fmt.Errorf("removing %s: %w", target, err)
	}
	return nil
}

// prune removes from the directory dir, recursively, what this layer did
// not add: what lower layers put there. A name that is not a directory
// (missing, or this layer's file) is left alone, and so is a symbolic
// link unless follow is set (dir is then the directory of an opaque
// whiteout, reached like that of any entry).
func (l *layer) prune(dir string, follow bool) error {
	if !follow {
		fi, err := l.root.Lstat(dir)
		if err != nil || !fi.IsDir() {
			return nil // missing, or not a directory: nothing beneath
		}
	}
	ok, err := l.prepareDir(dir, false)
	if err != nil || !ok {
		return err
	}
	f, err := l.root.Open(dir)
	if err != nil {
		return fmt.Errorf("listing directory %s: %w", dir, rootErr(err))
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("listing directory %s: %w", dir, err)
	}
	for _, e := range ents {
		name := path.Join(dir, e.Name())
		if l.added[name] || l.ancestors[name] {
			if e.IsDir() {
				if err := l.prune(name, false); err != nil {
					return err
				}
			}
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("looking at %s: %w", name, err)
		}
		if err := l.remove(name, fi); err != nil {
			return fmt.Errorf("removing %s: %w", name, err)
		}
	}
	return nil
}
