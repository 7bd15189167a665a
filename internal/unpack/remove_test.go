package unpack

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
)

// readOnlyTree builds beneath dir a tree with read-only and unreadable
// directories and files, and a symbolic link to outside, and returns
// outside (a directory with a file that must survive).
func readOnlyTree(t *testing.T, dir string) string {
	t.Helper()
	outside := filepath.Join(t.TempDir(), "outside")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(outside, "in"), 0o755))
	must(os.WriteFile(filepath.Join(outside, "in", "f"), []byte("keep"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "a", "b", "c"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "z"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a", "b", "c", "f"), nil, 0o000))
	must(os.WriteFile(filepath.Join(dir, "a", "g"), nil, 0o444))
	must(os.Symlink(outside, filepath.Join(dir, "a", "b", "out")))
	must(os.Symlink(filepath.Join(outside, "in"), filepath.Join(dir, "z", "in")))
	for _, d := range []struct {
		name string
		mode fs.FileMode
	}{{"a/b/c", 0o555}, {"a/b", 0o000}, {"a", 0o500}, {"z", 0o555}, {".", 0o555}} {
		must(os.Chmod(filepath.Join(dir, d.name), d.mode))
	}
	return outside
}

func TestRemoveAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := readOnlyTree(t, dir)
	if testutil.Rootless() {
		// The control: os.RemoveAll cannot remove this tree without root.
		if err := os.RemoveAll(dir); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("os.RemoveAll of a read-only tree, rootless: %v, want a permission error", err)
		}
	}
	if err := RemoveAll(dir); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after RemoveAll, Lstat: %v, want not exist", err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "in", "f")); err != nil || string(b) != "keep" {
		t.Errorf("the symbolic links' targets outside: %q, %v; want them untouched", b, err)
	}
	if fi, err := os.Stat(filepath.Join(outside, "in")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("a symbolic link's target directory outside: %v, %v; want mode 0755 kept", fi.Mode(), err)
	}
	// Nothing there, a file, a symbolic link.
	if err := RemoveAll(dir); err != nil {
		t.Errorf("RemoveAll of nothing: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o000); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(file); err != nil {
		t.Errorf("RemoveAll of a file: %v", err)
	}
}

// TestRemoveTree removes, beneath an os.Root, a tree with read-only
// directories (makeWritable's work, which root does not need: it is
// called directly too).
func TestRemoveTree(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := readOnlyTree(t, filepath.Join(dir, "tree"))
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := makeWritable(root, "tree"); err != nil {
		t.Fatalf("makeWritable: %v", err)
	}
	for _, name := range []string{"tree", "tree/a", "tree/a/b", "tree/a/b/c", "tree/z"} {
		if fi, err := root.Lstat(name); err != nil || fi.Mode().Perm()&0o700 != 0o700 {
			t.Errorf("after makeWritable, %s: %v, %v; want u+rwx", name, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(outside, "in")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("makeWritable followed a symbolic link out: %v, %v", fi.Mode(), err)
	}
	if err := removeTree(root, "tree"); err != nil {
		t.Fatalf("removeTree: %v", err)
	}
	if _, err := root.Lstat("tree"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after removeTree, Lstat: %v, want not exist", err)
	}
}
