package main

import (
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/corral-dev/corral/internal/imagetest"
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

// TestRunImageFromRegistry: corral run --image pulls an image it has not
// seen (quietly: not a terminal), runs its entrypoint and cmd, replaces
// the cmd with the arguments, and --entrypoint replaces the entrypoint.
func TestRunImageFromRegistry(t *testing.T) {
	needSandbox(t)
	t.Setenv("CORRAL_IMAGES", t.TempDir())
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "hello:1", imagetest.Image(t, v1.Config{
		Entrypoint: []string{"/bin/echo", "from"},
		Cmd:        []string{"the", "image"},
		Env:        []string{"PATH=/bin"},
	}, imagetest.Layer(t, imagetest.Busybox(t)...)))
	ref := reg.Ref("hello:1")
	if r := corral(t, "", "--image", ref); r.code != 0 || r.stdout != "from the image\n" {
		t.Fatalf("corral run --image %s: exit %d, stdout %q, stderr %q; want 0 and %q", ref, r.code, r.stdout, r.stderr, "from the image\n")
	}
	if r := corral(t, "", "--image", ref, "--", "my", "args"); r.code != 0 || r.stdout != "from my args\n" {
		t.Errorf("with args: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, "from my args\n")
	}
	if r := corral(t, "", "--image", ref, "--entrypoint", "sh", "--", "-c", "echo $((6*7))"); r.code != 0 || r.stdout != "42\n" {
		t.Errorf("--entrypoint sh: exit %d, stdout %q, stderr %q; want 42", r.code, r.stdout, r.stderr)
	}
}
