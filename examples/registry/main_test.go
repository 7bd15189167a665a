package main

import (
	"os"
	"testing"
)

// TestDemoImage builds the demo image: three layers, the greeting as the
// entrypoint, and a layer with a whiteout and an opaque directory.
func TestDemoImage(t *testing.T) {
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v (.ci/deps.sh installs busybox-static)", bb, err)
		}
		t.Skipf("no static busybox (%v): apt-get install busybox-static", err)
	}
	img, err := demoImage(bb)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 3 {
		t.Fatalf("%d layers, want 3", len(layers))
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != "/usr/local/bin/hello" {
		t.Errorf("entrypoint %q", got)
	}
	if len(cf.RootFS.DiffIDs) != 3 {
		t.Errorf("%d diff ids, want 3", len(cf.RootFS.DiffIDs))
	}
}
