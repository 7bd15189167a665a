package isolate

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRecordClear: Clear removes what was added since Record (files,
// directories, deep trees, symlinks) and keeps what was recorded; it fails
// when a recorded entry was removed or changed.
func TestRecordClear(t *testing.T) {
	dir := t.TempDir()
	write := func(p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("kept/file", "built")
	if err := os.Symlink("/proc/self/fd", filepath.Join(dir, "fd")); err != nil {
		t.Fatal(err)
	}
	tree, err := Record(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range tree {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, []string{"fd", "kept", "kept/file"}) {
		t.Fatalf("Record = %q", got)
	}

	// A run adds files everywhere, a deep tree, a symlink, and a mode.
	write("new", "x")
	write("kept/new", "x")
	write("a/b/c/d/e/f", "x")
	os.Symlink("/etc", filepath.Join(dir, "a/link"))
	if os.Geteuid() == 0 { // the sandbox's init, uid 0 in its namespace, can read such a directory
		os.Chmod(filepath.Join(dir, "a/b"), 0)
	}
	os.Chmod(dir, 0o700)
	if err := Clear(dir, 0o1777, tree); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error {
		rel, _ := filepath.Rel(dir, p)
		left = append(left, rel)
		return nil
	})
	if !slices.Equal(left, []string{".", "fd", "kept", "kept/file"}) {
		t.Errorf("after Clear: %q", left)
	}
	if st, _ := os.Stat(dir); st.Mode()&os.ModePerm != 0o777 || st.Mode()&os.ModeSticky == 0 {
		t.Errorf("mode after Clear: %v; want drwxrwxrwt", st.Mode())
	}

	// A recorded file changed, or removed: the reset cannot restore it.
	time.Sleep(10 * time.Millisecond) // a later change time
	write("kept/file", "changed")
	if err := Clear(dir, 0o755, tree); err == nil {
		t.Error("Clear after a recorded file changed: no error")
	}
	tree, _ = Record(dir)
	os.Remove(filepath.Join(dir, "fd"))
	if err := Clear(dir, 0o755, tree); err == nil {
		t.Error("Clear after a recorded link was removed: no error")
	}
}
