package unpack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"syscall"
	"time"
)

// layer is the state of one Apply call. Names in its maps are cleaned
// entry names, relative to the root.
type layer struct {
	root *os.Root
	opts Options
	st   *Stats
	buf  []byte

	// seq counts what changes the tree; removed holds, for each name
	// removed (a file, or a tree), the seq of its last removal, so that
	// what was recorded about a name before is known to be stale.
	seq     int
	removed map[string]int

	// ready holds directories known to exist and to be writable and
	// searchable by the caller; cleared when anything but a regular file
	// is removed (it may have been one of them, or a way to one).
	ready map[string]bool

	// dirs holds this layer's directory entries' modes and times, applied
	// by finish; restore holds the modes of directories of lower layers
	// that were made writable to be filled, restored by finish.
	dirs    map[string]dirAttr
	restore map[string]dirAttr

	// added holds the names this layer put in place, and ancestors the
	// directories on the way to them: what whiteouts keep.
	added     map[string]bool
	ancestors map[string]bool
}

// dirAttr is a directory's mode and modification time to apply, as of seq.
type dirAttr struct {
	mode  os.FileMode
	mtime time.Time // zero: leave as is
	seq   int
}

func newLayer(root *os.Root, opts Options, st *Stats) *layer {
	return &layer{
		root: root, opts: opts, st: st,
		buf:     make([]byte, copyBufSize),
		removed: map[string]int{}, ready: map[string]bool{},
		dirs: map[string]dirAttr{}, restore: map[string]dirAttr{},
		added: map[string]bool{}, ancestors: map[string]bool{},
	}
}

// escapes is os.Root's error for a name or symbolic link that leads out
// of the root ("path escapes from parent"), which package os does not
// export: it is taken, once, from the error os.Root returns for an
// absolute name (refused before any file system access), so that
// errors.Is finds it in the errors of any os.Root method.
var escapes = sync.OnceValue(func() error {
	r, err := os.OpenRoot(os.TempDir())
	if err != nil {
		r, err = os.OpenRoot("/")
		if err != nil {
			return nil
		}
	}
	defer r.Close()
	_, err = r.Lstat("/")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return nil
})

// rootErr returns err, from an os.Root method, made to match ErrUnsafe
// when os.Root refused a name leading out of the root.
func rootErr(err error) error {
	if esc := escapes(); esc != nil && errors.Is(err, esc) && !errors.Is(err, ErrUnsafe) {
		return fmt.Errorf("a symbolic link on its path leads out of the root (%w): %w", err, ErrUnsafe)
	}
	return err
}

// added records that this layer put name in place.
func (l *layer) add(name string) {
	l.added[name] = true
	for p := path.Dir(name); p != "." && !l.ancestors[p]; p = path.Dir(p) {
		l.ancestors[p] = true
	}
}

// current reports whether what was recorded about name at seq still
// holds: neither name nor a directory above it was removed since.
func (l *layer) current(name string, seq int) bool {
	for p := name; ; p = path.Dir(p) {
		if l.removed[p] > seq {
			return false
		}
		if p == "." {
			return true
		}
	}
}

// parent makes sure the directory that holds name exists and can be
// written to, creating missing directories (mode 0755).
func (l *layer) parent(name string) error {
	if name == "." {
		return nil
	}
	_, err := l.prepareDir(path.Dir(name), true)
	return err
}

// prepareDir makes sure dir, and every directory above it, is searchable
// and writable by the caller, recording the modes it changes to restore
// them in finish. If dir does not exist it is created (mode 0755), along
// with its missing parents, when create is set, else prepareDir reports
// false. A name on the way that is not a directory is an error.
func (l *layer) prepareDir(dir string, create bool) (bool, error) {
	if l.ready[dir] {
		return true, nil
	}
	if dir != "." {
		if ok, err := l.prepareDir(path.Dir(dir), create); !ok || err != nil {
			return ok, err
		}
	}
	fi, err := l.root.Stat(dir) // follows symbolic links, within the root
	switch {
	case err == nil && !fi.IsDir():
		if !create {
			return false, nil
		}
		return false, fmt.Errorf("reaching directory %s: it is a %s", dir, kind(fi))
	case err == nil:
		if perm := fi.Mode() & (os.ModePerm | os.ModeSticky); perm&0o700 != 0o700 {
			if err := l.root.Chmod(dir, perm|0o700); err != nil {
				return false, fmt.Errorf("making directory %s writable to fill it: %w", dir, rootErr(err))
			}
			if _, ok := l.restore[dir]; !ok {
				l.restore[dir] = dirAttr{mode: perm, seq: l.seq}
			}
		}
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := l.root.Mkdir(dir, 0o755); err != nil {
			return false, fmt.Errorf("creating directory %s: %w", dir, rootErr(err))
		}
		if err := l.root.Chmod(dir, 0o755); err != nil { // whatever the umask
			return false, fmt.Errorf("creating directory %s: %w", dir, rootErr(err))
		}
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		if !create {
			return false, nil
		}
		return false, fmt.Errorf("reaching directory %s: %w", dir, rootErr(err))
	default:
		return false, fmt.Errorf("reaching directory %s: %w", dir, rootErr(err))
	}
	l.ready[dir] = true
	return true, nil
}

// clear removes what is at name, if anything, before an entry is put
// there; a directory stays when keepDir is set. It reports whether a
// directory stayed. name's parent must be prepared (see parent).
func (l *layer) clear(name string, keepDir bool) (bool, error) {
	fi, err := l.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking at what is there: %w", rootErr(err))
	case fi.IsDir() && keepDir:
		return true, nil
	}
	return false, l.remove(name, fi)
}

// remove removes name, a file or a whole tree, described by fi.
func (l *layer) remove(name string, fi fs.FileInfo) error {
	if name == "." {
		return fmt.Errorf("replacing the root directory: %w", ErrUnsafe)
	}
	l.seq++
	l.removed[name] = l.seq
	if !fi.Mode().IsRegular() {
		clear(l.ready)
	}
	var err error
	if fi.IsDir() {
		err = removeTree(l.root, name)
	} else {
		err = l.root.Remove(name)
	}
	if err != nil {
		return fmt.Errorf("removing what lower layers put there: %w", rootErr(err))
	}
	return nil
}

// finish applies the modes and modification times of the layer's
// directories and restores the modes of the lower layers' directories it
// made writable, deepest first (a parent's mode may forbid reaching its
// children), skipping what was removed since. A directory reached by two
// names (through a symbolic link) gets this layer's mode if it has one.
func (l *layer) finish() error {
	names := make([]string, 0, len(l.dirs)+len(l.restore))
	for name := range l.dirs {
		names = append(names, name)
	}
	for name := range l.restore {
		if _, ok := l.dirs[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	slices.Reverse(names)     // "a/b" after "a" in order: before it in reverse
	done := map[fileID]bool{} // directories given this layer's mode
	for _, name := range names {
		a, mine := l.dirs[name]
		if !mine {
			a = l.restore[name]
		}
		if !l.current(name, a.seq) {
			continue
		}
		var fi fs.FileInfo
		var err error
		if mine {
			fi, err = l.root.Lstat(name)
		} else {
			fi, err = l.root.Stat(name) // may be a symbolic link on the way
		}
		if err != nil || !fi.IsDir() || (!mine && done[idOf(fi)]) {
			continue // replaced or removed by a later entry, or given a mode
		}
		if mine {
			done[idOf(fi)] = true
		}
		if err := l.setDir(name, a); err != nil {
			return err
		}
	}
	return nil
}

// setDir applies a to the directory name.
func (l *layer) setDir(name string, a dirAttr) error {
	if err := l.root.Chmod(name, a.mode); err != nil {
		return fmt.Errorf("unpack: setting the mode of directory %q: %w", name, rootErr(err))
	}
	if !a.mtime.IsZero() {
		if err := l.root.Chtimes(name, a.mtime, a.mtime); err != nil {
			return fmt.Errorf("unpack: setting the modification time of directory %q: %w", name, rootErr(err))
		}
	}
	return nil
}

// kind names the type of file fi describes, for errors.
func kind(fi fs.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "regular file"
	case t == fs.ModeDir:
		return "directory"
	case t == fs.ModeSymlink:
		return "symbolic link"
	default:
		return "special file (" + t.String() + ")"
	}
}

// fileID identifies a file: its device and inode numbers.
type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), st.Ino}
	}
	return fileID{}
}
