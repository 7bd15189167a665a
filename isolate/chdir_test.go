package isolate

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestChdirInside: a directory the root reaches becomes the working
// directory. (A directory outside the root, refused: the adversarial case
// cve-2024-21626-passed-dir; getcwd refused by a caller's rule:
// TestSeccompCustomRules in sandbox.)
func TestChdirInside(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	dir := t.TempDir()
	if err := chdirInside(dir); err != nil {
		t.Fatalf("chdirInside(%s): %v", dir, err)
	}
	if got, _ := os.Getwd(); got != dir {
		t.Errorf("working directory %s, want %s", got, dir)
	}
}

// BenchmarkChdirInside is the cost of Cmd.Dir for each command, from a
// thread locked as the launcher is: open, openat, fchdir, getcwd.
// go test -run ^$ -bench Chdir ./isolate
func BenchmarkChdirInside(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	dir := b.TempDir()
	for b.Loop() {
		if err := chdirInside(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChdirOpenat2 is what Cmd.Dir cost before: openat2 with
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS and fchdir, on the calling thread.
func BenchmarkChdirOpenat2(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	dir := b.TempDir()
	for b.Loop() {
		root, _ := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		fd, err := unix.Openat2(root, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		unix.Close(root)
		if err != nil {
			b.Fatal(err)
		}
		unix.Fchdir(fd)
		unix.Close(fd)
	}
}
