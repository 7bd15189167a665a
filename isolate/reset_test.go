package isolate

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
		for k := range tree.entries {
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
	if err := Clear(dir, tree); err != nil {
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
	if st, _ := os.Stat(dir); uint16(st.Mode()&os.ModePerm) != tree.root.Mode&0o777 {
		t.Errorf("mode after Clear: %v; want %o", st.Mode(), tree.root.Mode)
	}

	// A recorded file changed, or removed: the reset cannot restore it.
	time.Sleep(10 * time.Millisecond) // a later change time
	write("kept/file", "changed")
	if err := Clear(dir, tree); err == nil {
		t.Error("Clear after a recorded file changed: no error")
	}
	tree, _ = Record(dir)
	os.Remove(filepath.Join(dir, "fd"))
	if err := Clear(dir, tree); err == nil {
		t.Error("Clear after a recorded link was removed: no error")
	}
}

// TestClearMetadata: Clear gives the directory and every recorded entry
// back the times, mode and extended attributes they were recorded with,
// whatever a run did to them (files added and removed, a file read, modes
// and attributes changed), and does so again on each Clear.
func TestClearMetadata(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "kept/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "kept/file"), []byte("built"), 0o644)
	os.Symlink("/proc/self/fd", filepath.Join(dir, "fd"))
	old := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, p := range []string{"kept/file", "kept/sub", "kept", "."} {
		if err := os.Chtimes(filepath.Join(dir, p), old, old.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	tree, err := Record(dir)
	if err != nil {
		t.Fatal(err)
	}
	type meta struct {
		mode         uint16
		atime, mtime unix.StatxTimestamp
		xattrs       int
	}
	state := func() map[string]meta {
		m := map[string]meta{}
		for _, p := range []string{".", "fd", "kept", "kept/sub", "kept/file"} {
			var stx unix.Statx_t
			if err := unix.Statx(unix.AT_FDCWD, filepath.Join(dir, p), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err != nil {
				t.Fatal(err)
			}
			n, _ := unix.Llistxattr(filepath.Join(dir, p), nil)
			m[p] = meta{stx.Mode, stx.Atime, stx.Mtime, n}
		}
		return m
	}
	built := state()
	if built["kept"].mtime.Sec != old.Add(time.Second).Unix() {
		t.Fatalf("recorded: %+v; want the times set before", built["kept"])
	}
	for round := range 2 {
		time.Sleep(10 * time.Millisecond) // later times
		os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(dir, "kept/sub/new"), []byte("x"), 0o644)
		os.Remove(filepath.Join(dir, "kept/sub/new"))
		os.ReadFile(filepath.Join(dir, "kept/file"))
		os.Readlink(filepath.Join(dir, "fd"))
		os.ReadDir(filepath.Join(dir, "kept"))
		os.Chmod(filepath.Join(dir, "kept/sub"), 0o700)
		xattr := unix.Setxattr(filepath.Join(dir, "kept"), "user.run", []byte("1"), 0)
		if err := Clear(dir, tree); err != nil {
			t.Fatalf("round %d: Clear: %v", round, err)
		}
		if got := state(); !maps.Equal(got, built) {
			t.Errorf("round %d (user xattr: %v): after Clear\n%+v\nwant\n%+v", round, xattr, got, built)
		}
	}
}
