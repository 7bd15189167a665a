package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUTF8LocaleProbe: LANG=C.UTF-8 is set for an Options.Root only when
// the image itself has the locale; a symlink out of the image to the
// host's locale does not count.
func TestUTF8LocaleProbe(t *testing.T) {
	root := t.TempDir()
	o := Options{Root: root}
	if o.utf8Locale() {
		t.Fatal("an empty root has C.UTF-8")
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/locale", filepath.Join(root, "usr/lib/locale")); err != nil {
		t.Fatal(err)
	}
	if o.utf8Locale() {
		t.Error("a root whose usr/lib/locale links to the host's has C.UTF-8")
	}
	os.Remove(filepath.Join(root, "usr/lib/locale"))
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/locale/C.utf8"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !o.utf8Locale() {
		t.Error("a root with usr/lib/locale/C.utf8 has no C.UTF-8")
	}
}

// TestTmpSize: without Limits.Memory, an eighth of the machine's memory;
// with it, a quarter, lowered to the limit, never raised to it; in whole MiB.
func TestTmpSize(t *testing.T) {
	quarter := machineMemory() / 4 &^ (1<<20 - 1)
	if quarter <= 0 {
		t.Skip("this machine's memory is unknown")
	}
	for _, tc := range []struct {
		mem, want int64
	}{
		{0, machineMemory() / 8 &^ (1<<20 - 1)},
		{16 << 20, 16 << 20},
		{quarter - 1, quarter - 1},
		{quarter * 8, quarter},
	} {
		o := Options{Limits: Limits{Memory: tc.mem}}
		if got := o.tmpSize(); got != tc.want {
			t.Errorf("Limits.Memory %d: tmpfs size %d; want %d", tc.mem, got, tc.want)
		}
	}
}
