// Package unpack applies container image layers (tar streams) to a
// directory, rootless. SKELETON: a naive version the coordinator wrote so
// that other work can start; the unpack helper replaces it.
package unpack

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path"
)

// ErrUnsafe is what Apply's errors for entries that would leave the root
// match.
var ErrUnsafe = errors.New("unpack: entry would leave the root")

// Stats counts what Apply did.
type Stats struct {
	Bytes   int64 // bytes of regular files written
	Entries int
	Dropped int // device nodes and other entries left out
}

// Options tune Apply.
type Options struct {
	// MaxBytes stops Apply with ErrTooBig once it has written more bytes
	// of regular files than this; 0 means no bound.
	MaxBytes int64
}

// ErrTooBig reports a layer past Options.MaxBytes.
var ErrTooBig = errors.New("unpack: layer too big")

// Apply applies the layer tar stream r to the directory dir.
func Apply(dir string, r io.Reader, opts Options) (Stats, error) {
	var st Stats
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		name := path.Clean(h.Name)
		st.Entries++
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return st, err
			}
		case tar.TypeReg:
			root.MkdirAll(path.Dir(name), 0o755)
			f, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode).Perm())
			if err != nil {
				return st, err
			}
			n, err := io.Copy(f, tr)
			f.Close()
			st.Bytes += n
			if err != nil {
				return st, err
			}
		case tar.TypeSymlink:
			root.MkdirAll(path.Dir(name), 0o755)
			root.Remove(name)
			if err := root.Symlink(h.Linkname, name); err != nil {
				return st, err
			}
		default:
			st.Dropped++
		}
	}
}

// RemoveAll removes dir and everything in it, read-only directories too.
func RemoveAll(dir string) error { return os.RemoveAll(dir) }
