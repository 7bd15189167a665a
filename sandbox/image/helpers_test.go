package image_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/imagetest"
	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/internal/unpack"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestMain also runs as a child process for the two-process tests: with
// IMAGE_TEST_CHILD_REF set, it opens that image in $CORRAL_IMAGES and
// prints its root.
func TestMain(m *testing.M) {
	sandbox.Main() // the sandboxes' init, in TestRunImage's runs
	if ref := os.Getenv("IMAGE_TEST_CHILD_REF"); ref != "" {
		os.Exit(child(ref))
	}
	os.Exit(testutil.RunChecked(m)) // no fd, process or temp dir left behind
}

func child(ref string) int {
	s, err := image.Open(image.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, err := s.OpenImage(bg, ref)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer root.Close()
	fmt.Println(root.Dir)
	return 0
}

// runChild starts the test binary as a child opening ref in the store dir.
func runChild(dir, ref string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "IMAGE_TEST_CHILD_REF="+ref, "CORRAL_IMAGES="+dir)
	return cmd
}

// newStore opens a store in a fresh directory.
func newStore(t *testing.T, opts image.Options) *image.Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := image.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // before TempDir's cleanup: images may hold read-only dirs
		if _, err := s.Prune(true); err != nil {
			t.Errorf("Prune(true): %v", err)
		}
	})
	return s
}

// baseFiles is the bottom layer of testImage.
var baseFiles = []imagetest.File{
	imagetest.Dir("bin"),
	{Name: "bin/hello", Body: "#!/bin/sh\necho hello\n", Mode: 0o755},
	imagetest.Dir("etc"),
	{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"},
	imagetest.Dir("etc/conf.d"),
	{Name: "etc/conf.d/old.conf", Body: "old\n"},
	imagetest.Dir("usr/lib"),
	{Name: "usr/lib/gone.so", Body: "gone"},
	{Name: "usr/lib/kept.so", Body: "kept"},
	imagetest.Symlink("bin/sh", "/bin/busybox"),
	{Name: "ro", Type: tar.TypeDir, Mode: 0o555},
	{Name: "ro/file", Body: "in a read-only dir"},
}

// testImage is a three-layer image with whiteouts, an opaque dir, and a
// file that marks it (so that two images differ).
func testImage(t testing.TB, mark string) v1.Image {
	return imagetest.Image(t, v1.Config{
		Entrypoint: []string{"/bin/hello"},
		Cmd:        []string{"--flag"},
		Env:        []string{"PATH=/bin", "MARK=" + mark},
		WorkingDir: "/srv",
		User:       "app",
	},
		imagetest.Layer(t, baseFiles...),
		imagetest.Layer(t,
			imagetest.Whiteout("usr/lib/gone.so"),
			imagetest.Opaque("etc/conf.d"),
			imagetest.Dir("etc/conf.d"),
			imagetest.File{Name: "etc/conf.d/new.conf", Body: "new\n"},
		),
		imagetest.Layer(t, imagetest.Dir("srv"), imagetest.File{Name: "srv/mark", Body: mark}),
	)
}

// checkTestImage checks an unpacked testImage.
func checkTestImage(t *testing.T, dir, mark string) {
	t.Helper()
	want := map[string]string{
		"bin/hello": "#!/bin/sh\necho hello\n", "usr/lib/kept.so": "kept",
		"etc/conf.d/new.conf": "new\n", "srv/mark": mark, "ro/file": "in a read-only dir",
	}
	for name, body := range want {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != body {
			t.Errorf("%s: %q, %v; want %q", name, b, err, body)
		}
	}
	if !unpackWhiteouts(t) {
		t.Log("internal/unpack does not apply whiteouts yet (h/base's naive version): whiteouts not checked")
		return
	}
	for _, gone := range []string{"usr/lib/gone.so", "etc/conf.d/old.conf", ".wh..wh..opq", "usr/lib/.wh.gone.so"} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v; want it gone", gone, err)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || l != "/bin/busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
}

// unpackWhiteouts reports whether internal/unpack applies whiteouts (the
// naive version on h/base does not; the unpack helper's does).
func unpackWhiteouts(t *testing.T) bool {
	dir := t.TempDir()
	for _, b := range [][]byte{imagetest.Tar(imagetest.File{Name: "a", Body: "a"}), imagetest.Tar(imagetest.Whiteout("a"))} {
		if _, err := unpack.Apply(dir, bytes.NewReader(b), unpack.Options{}); err != nil {
			return false
		}
	}
	_, err := os.Lstat(filepath.Join(dir, "a"))
	return errors.Is(err, os.ErrNotExist)
}

// entries lists a cache subdirectory.
func entries(t *testing.T, s *image.Store, sub string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), sub))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// expectEmpty fails unless roots/ and tmp/ are empty: a failed pull
// leaves nothing behind.
func expectEmpty(t *testing.T, s *image.Store) {
	t.Helper()
	for _, sub := range []string{"roots", "tmp"} {
		if names := entries(t, s, sub); len(names) != 0 {
			t.Errorf("%s/ holds %q; want it empty", sub, names)
		}
	}
}

// expectErr fails unless err matches target and its message holds every
// one of words.
func expectErr(t *testing.T, err, target error, words ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v; want one matching %v", err, target)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

func refsOf(t *testing.T, s *image.Store) [][]string {
	t.Helper()
	ims, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var refs [][]string
	for _, im := range ims {
		refs = append(refs, slices.Clone(im.Refs))
	}
	return refs
}
