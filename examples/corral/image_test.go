package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRunImageFlags: --entrypoint without --image and --image with --root
// are refused before any sandbox starts; an image that cannot be opened
// fails the set-up (exit 125) with a message naming the image step and the
// reference. The control: the same command without the bad flag runs.
func TestRunImageFlags(t *testing.T) {
	corral(t, "", "--entrypoint", "/bin/sh", "--", "/bin/true").expect(t, exitSetup, "--entrypoint needs --image")
	corral(t, "", "--image", "oci:/nonexistent", "--root", "/", "--", "x").expect(t, exitSetup, "--image and --root")
	corral(t, "", "--", "/bin/true").expect(t, 0)

	// A layout directory that is not there: no network, whatever the store.
	t.Setenv("CORRAL_IMAGES", t.TempDir())
	missing := filepath.Join(t.TempDir(), "no-such-layout")
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("%s: %v", missing, err)
	}
	ref := "oci:" + missing
	corral(t, "", "--image", ref).expect(t, exitSetup, "sandbox: image", ref)
	corral(t, "", "--image", ref, "--entrypoint", "/bin/true", "--", "x").expect(t, exitSetup, "sandbox: image", ref)
}
