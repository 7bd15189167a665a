package unpack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
)

// RemoveAll removes dir and everything in it, like os.RemoveAll, read-only
// directories too: where the caller lacks the permission to remove what a
// directory holds (a rootless caller, a directory without write
// permission), it makes the directories beneath dir writable and tries
// again. It does not follow symbolic links, and returns nil if dir does
// not exist.
func RemoveAll(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	fi, lerr := os.Lstat(dir)
	if lerr != nil || !fi.IsDir() {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o700 != 0o700 {
		if cerr := os.Chmod(dir, perm|0o700); cerr != nil {
			return fmt.Errorf("%w (making it writable: %v)", err, cerr)
		}
	}
	root, rerr := os.OpenRoot(dir)
	if rerr != nil {
		return fmt.Errorf("%w (opening it to make it writable: %v)", err, rerr)
	}
	werr := makeWritable(root, ".")
	root.Close()
	if err := os.RemoveAll(dir); err != nil {
		if werr != nil {
			return fmt.Errorf("%w (making its directories writable: %v)", err, werr)
		}
		return err
	}
	return nil
}

// removeTree removes name beneath root and everything in it, making the
// directories in it writable when that is what stops it.
func removeTree(root *os.Root, name string) error {
	err := root.RemoveAll(name)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	if werr := makeWritable(root, name); werr != nil {
		return fmt.Errorf("%w (making its directories writable: %v)", err, werr)
	}
	return root.RemoveAll(name)
}

// makeWritable gives the directory name beneath root, and every directory
// in it, the owner's read, write and search permission. Symbolic links are
// not followed; an error is returned only if name itself cannot be made
// writable (what is beneath is done as well as can be).
func makeWritable(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if err != nil || !fi.IsDir() {
		return err
	}
	if perm := fi.Mode() & (os.ModePerm | os.ModeSticky); perm&0o700 != 0o700 {
		if err := root.Chmod(name, perm|0o700); err != nil {
			return err
		}
	}
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	ents, _ := f.ReadDir(-1) // what it could read: RemoveAll reports what stays
	f.Close()                // before going deeper: one open directory at a time
	for _, e := range ents {
		if e.IsDir() {
			_ = makeWritable(root, path.Join(name, e.Name())) // best effort, as above
		}
	}
	return nil
}
