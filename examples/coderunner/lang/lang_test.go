package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVisible(t *testing.T) {
	dir := t.TempDir()
	hidden := filepath.Join(dir, "python3")
	if err := os.WriteFile(hidden, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "sh")
	if err := os.Symlink("/bin/sh", link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{
		{"/bin/sh", true},
		{link, true},    // a link into /bin: what it points to counts
		{hidden, false}, // a toolchain in a directory the sandbox lacks (a pyenv shim, say)
		{filepath.Join(dir, "missing"), false},
	} {
		if got := Visible(c.path); got != c.want {
			t.Errorf("Visible(%q) = %v, want %v", c.path, got, c.want)
		}
	}
}

// TestDetect: sh is always there, each language found has a version, and
// only the table's languages are offered.
func TestDetect(t *testing.T) {
	langs := Detect("")
	if Find(langs, "sh") == nil {
		t.Fatal("sh not detected")
	}
	all := map[string]bool{}
	for _, l := range All() {
		all[l.Name] = true
	}
	for _, l := range langs {
		if !all[l.Name] || l.Version == "" || l.Version == "unknown" || strings.Contains(l.Version, "\n") {
			t.Errorf("%s: version %q", l.Name, l.Version)
		}
		if len(l.Run) == 0 || l.Source == "" {
			t.Errorf("%s: no run step or source name", l.Name)
		}
	}
	if Find(langs, "cobol") != nil {
		t.Error("Find found cobol")
	}
}
