// Package unpack applies container image layers (tar streams) to a
// directory, rootless: the files it creates belong to the caller, whatever
// owners the layer names.
//
// Apply resolves every name beneath the directory with [os.Root], so
// nothing a layer holds can create, change or remove a file outside it: an
// absolute name, a name that climbs out with "..", a name whose parent is a
// symbolic link leading out of the directory, or a hard link to anything
// but a regular file already unpacked is refused with an error matching
// [ErrUnsafe], and the whole layer with it (a layer that tries is not an
// image to run). Symbolic links are created as the layer has them, absolute
// targets included: they resolve inside the sandbox at run time, and are
// never followed out of the directory while unpacking.
//
// The rest follows the OCI image layer specification, rootless:
//   - device nodes and fifos are dropped (counted in [Stats].Dropped),
//     and their names keep what lower layers put there, if anything;
//   - modes keep the permission bits only (set-user-ID and set-group-ID
//     dropped; the sticky bit kept on directories); ownership and extended
//     attributes are ignored;
//   - a whiteout ".wh.NAME" removes NAME (a file or a whole tree) as lower
//     layers left it, and an opaque whiteout ".wh..wh..opq" empties its
//     directory of what lower layers put there, keeping what this layer
//     adds, in whatever order the entries come;
//   - an entry replaces what is at its name, a file a directory tree and a
//     directory a file; a directory over a directory keeps its content;
//     the last of two entries with one name wins;
//   - directory modes and modification times are applied after the layer,
//     so that a read-only directory can be filled; file modification times
//     are kept; symbolic links' are not.
//
// Layers are applied one after the other, bottom-up, into one directory,
// which ends up holding the merged file system and no whiteouts.
package unpack

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// ErrUnsafe is what Apply's errors for entries that would leave the root
// match (errors.Is). The layer is refused: nothing after the entry is
// applied.
var ErrUnsafe = errors.New("unsafe layer entry refused")

// ErrTooBig is what Apply's error for a layer past Options.MaxBytes
// matches (errors.Is).
var ErrTooBig = errors.New("layer too big")

// Stats counts what Apply did.
type Stats struct {
	// Bytes is the sum of the sizes of the regular files and hard links
	// the layer holds, plus EntryBytes for each other entry and each empty
	// file (directories, symlinks, whiteouts, dropped entries): what
	// Options.MaxBytes bounds, so that a layer of a million empty entries
	// meets it too. A sparse file counts at its full size.
	Bytes int64
	// Entries counts the layer's entries (extended headers excluded).
	Entries int
	// Dropped counts entries left out: device nodes, fifos, entries of
	// unknown types and whiteouts of other file systems (".wh..wh.*").
	Dropped int

	Files     int // regular files written
	Dirs      int // directory entries
	Symlinks  int // symbolic links created
	HardLinks int // hard links created
	Whiteouts int // whiteouts and opaque whiteouts applied
}

// EntryBytes is what an entry without contents counts towards
// Stats.Bytes and Options.MaxBytes: about what a directory or an inode
// takes on disk.
const EntryBytes = 4096

// Options tune Apply.
type Options struct {
	// MaxBytes stops Apply with an error matching ErrTooBig at the first
	// entry that would bring Stats.Bytes past it,
	// before that entry is written; 0 means no bound. It bounds one call:
	// to bound an image, pass each layer what the layers below left.
	MaxBytes int64
}

// An EntryError reports the entry of a layer that Apply could not apply,
// and why. Its Err matches ErrUnsafe for an entry that would leave the
// root, and ErrTooBig for one past Options.MaxBytes.
type EntryError struct {
	Name string // the entry's name as the layer has it
	Err  error
}

// Error implements the error interface.
func (e *EntryError) Error() string {
	return fmt.Sprintf("unpack: layer entry %q: %v", e.Name, e.Err)
}

// Unwrap returns e.Err.
func (e *EntryError) Unwrap() error { return e.Err }

// copyBufSize is the size of the buffer file contents are copied through.
const copyBufSize = 256 << 10

// Apply applies the layer tar stream r (uncompressed) to the directory
// dir, which must exist, and returns what it did. On success it has read
// r to its end, past the tar's end-of-archive marker, so that a digest
// computed over r covers the whole layer. On error the directory is left
// half applied: the caller is expected to discard it (see RemoveAll).
func Apply(dir string, r io.Reader, opts Options) (Stats, error) {
	var st Stats
	if opts.MaxBytes < 0 {
		return st, fmt.Errorf("unpack: Options.MaxBytes is %d: it must be 0 (no bound) or positive", opts.MaxBytes)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, fmt.Errorf("unpack: opening the directory to unpack into: %w", err)
	}
	defer root.Close()
	l := newLayer(root, opts, &st)
	tr := tar.NewReader(r)
	last := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if last == "" {
				return st, fmt.Errorf("unpack: reading the layer's first entry: %w", err)
			}
			return st, fmt.Errorf("unpack: reading the layer after entry %q: %w", last, err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue // a PAX global header: nothing to apply
		}
		last = h.Name
		st.Entries++
		if err := l.apply(h, tr); err != nil {
			return st, &EntryError{Name: h.Name, Err: err}
		}
	}
	if err := l.finish(); err != nil {
		return st, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return st, fmt.Errorf("unpack: reading the layer past its end-of-archive marker: %w", err)
	}
	return st, nil
}

// whPrefix starts the names of whiteouts; whOpaque is the opaque one's.
const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
)

// apply applies one entry of the layer; tr is positioned at its content.
func (l *layer) apply(h *tar.Header, tr io.Reader) error {
	name, err := cleanName(h.Name, "its name")
	if err != nil {
		return err
	}
	regular := h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeGNUSparse
	if regular && h.Size == 0 || !regular && h.Typeflag != tar.TypeLink { // a hard link counts its file's size
		// Entries without contents are not free: each is an inode and a
		// directory entry, and state kept while the layer is applied.
		if err := l.count(EntryBytes); err != nil {
			return err
		}
	}
	if base := path.Base(name); strings.HasPrefix(base, whPrefix) {
		return l.whiteout(name, base)
	}
	if name == "." && h.Typeflag != tar.TypeDir {
		return fmt.Errorf("a %s cannot replace the root directory: %w", typeName(h.Typeflag), ErrUnsafe)
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return l.dir(name, h)
	case tar.TypeReg, tar.TypeGNUSparse: // archive/tar expands sparse files
		return l.file(name, h, tr)
	case tar.TypeSymlink:
		return l.symlink(name, h)
	case tar.TypeLink:
		return l.hardlink(name, h)
	default: // devices, fifos and unknown types
		l.st.Dropped++
		return nil
	}
}

// cleanName returns the entry name s (what names, for errors) cleaned
// and relative to the root, or an error matching ErrUnsafe if s is
// absolute or climbs out of the root.
func cleanName(s, what string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("%s is empty", what)
	case strings.IndexByte(s, 0) >= 0:
		return "", fmt.Errorf("%s holds a NUL byte", what)
	case s[0] == '/':
		return "", fmt.Errorf("%s is absolute: %w", what, ErrUnsafe)
	}
	c := path.Clean(s)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%s climbs out of the root with \"..\": %w", what, ErrUnsafe)
	}
	return c, nil
}

// typeName names a tar entry type for errors.
func typeName(t byte) string {
	switch t {
	case tar.TypeReg, tar.TypeGNUSparse:
		return "regular file"
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device node"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("entry of type %q", t)
}
