package image_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/imagetest"
	"github.com/corral-dev/corral/sandbox/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var bg = context.Background()

func TestPullByTagAndDigest(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	byDigest := reg.Push(t, "app:1", testImage(t, "one"))
	s := newStore(t, image.Options{})

	root, err := s.OpenImage(bg, reg.Ref("app:1"))
	if err != nil {
		t.Fatal(err)
	}
	checkTestImage(t, root.Dir, "one")
	c := root.Config
	if !slices.Equal(c.Entrypoint, []string{"/bin/hello"}) || !slices.Equal(c.Cmd, []string{"--flag"}) ||
		!slices.Contains(c.Env, "MARK=one") || c.WorkingDir != "/srv" || c.User != "app" {
		t.Errorf("Config = %+v", c)
	}
	if !strings.HasPrefix(root.Digest, "sha256:") || !strings.Contains(root.Dir, root.Digest[7:]) {
		t.Errorf("Digest %q, Dir %q: want the dir named after the digest", root.Digest, root.Dir)
	}
	if err := root.Close(); err != nil {
		t.Fatal(err)
	}

	// Cached: by tag and by digest, no request reaches the registry.
	before := reg.Requests()
	for _, ref := range []string{reg.Ref("app:1"), byDigest} {
		r2, err := s.OpenImage(bg, ref)
		if err != nil {
			t.Fatal(err)
		}
		if r2.Dir != root.Dir {
			t.Errorf("OpenImage(%s).Dir = %s; want %s", ref, r2.Dir, root.Dir)
		}
		r2.Close()
	}
	if n := reg.Requests() - before; n != 0 {
		t.Errorf("cached OpenImage made %d registry requests; want 0", n)
	}
	// Control: Pull asks the registry again.
	im, err := s.Pull(bg, reg.Ref("app:1"))
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.Requests() - before; n == 0 {
		t.Error("Pull made no registry request; want it to resolve the tag afresh")
	}
	if im.Digest != root.Digest || im.ManifestDigest != byDigest[strings.Index(byDigest, "@")+1:] {
		t.Errorf("Pull = %+v; want digest %s, manifest of %s", im, root.Digest, byDigest)
	}
	if im.Size < int64(len("kept")) {
		t.Errorf("Size = %d", im.Size)
	}
	if len(im.Refs) != 1 || im.Refs[0] != reg.Ref("app:1") {
		t.Errorf("Pull(...).Refs = %q; want [%s]", im.Refs, reg.Ref("app:1"))
	}
	if got := refsOf(t, s); len(got) != 1 || !slices.Contains(got[0], reg.Ref("app:1")) {
		t.Errorf("List refs = %q; want one image named %s", got, reg.Ref("app:1"))
	}
}

func TestTagMoved(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "app:latest", testImage(t, "one"))
	s := newStore(t, image.Options{})
	old, err := s.Pull(bg, reg.Ref("app:latest"))
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "app:latest", testImage(t, "two"))
	// OpenImage serves what the cache has (pull if missing)...
	root, err := s.OpenImage(bg, reg.Ref("app:latest"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root.Dir, "srv/mark")); string(b) != "one" {
		t.Errorf("cached OpenImage: mark %q; want one", b)
	}
	// ... Pull fetches the tag's new image; the old one stays, unnamed,
	// and in use: Prune keeps it until it is closed.
	im, err := s.Pull(bg, reg.Ref("app:latest"))
	if err != nil {
		t.Fatal(err)
	}
	if im.Digest == old.Digest {
		t.Fatal("Pull did not fetch the moved tag")
	}
	rep, err := s.Prune(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 0 || rep.InUse != 1 {
		t.Errorf("Prune with the old image open = %+v; want nothing removed, 1 in use", rep)
	}
	root.Close()
	rep, err = s.Prune(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 1 || rep.Removed[0].Digest != old.Digest || rep.Freed != old.Size {
		t.Errorf("Prune = %+v; want the old image %s (%d bytes) removed", rep, old.Digest, old.Size)
	}
	ims, _ := s.List()
	if len(ims) != 1 || ims[0].Digest != im.Digest {
		t.Errorf("List = %+v; want only %s", ims, im.Digest)
	}
	expectTmpEmpty(t, s)
}

func expectTmpEmpty(t *testing.T, s *image.Store) {
	t.Helper()
	if names := entries(t, s, "tmp"); len(names) != 0 {
		t.Errorf("tmp/ holds %q", names)
	}
}

func TestIndexPlatforms(t *testing.T) {
	other := "s390x"
	if runtime.GOARCH == other {
		other = "riscv64"
	}
	host := testImage(t, "host")
	foreign := imagetest.PlatformImage(t, v1.Platform{OS: "linux", Architecture: other}, v1.Config{},
		imagetest.Layer(t, imagetest.File{Name: "srv/mark", Body: "foreign"}))
	reg := imagetest.NewRegistry(t)
	reg.PushIndex(t, "multi:1", imagetest.Index(t, foreign, host))
	reg.PushIndex(t, "foreign:1", imagetest.Index(t, foreign))
	lay := filepath.Join(t.TempDir(), "layout")
	imagetest.WriteLayoutIndex(t, lay, imagetest.Index(t, foreign, host))
	s := newStore(t, image.Options{})

	for _, ref := range []string{reg.Ref("multi:1"), "oci:" + lay} {
		root, err := s.OpenImage(bg, ref)
		if err != nil {
			t.Fatal(err)
		}
		checkTestImage(t, root.Dir, "host")
		root.Close()
	}
	_, err := s.OpenImage(bg, reg.Ref("foreign:1"))
	expectErr(t, err, image.ErrNotFound, "linux/"+runtime.GOARCH, "linux/"+other)
}

func TestNotFound(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "app:1", testImage(t, "one"))
	s := newStore(t, image.Options{})
	for _, ref := range []string{reg.Ref("app:2"), reg.Ref("nothing:1"),
		reg.Ref("app@sha256:" + strings.Repeat("0", 64))} {
		_, err := s.OpenImage(bg, ref)
		expectErr(t, err, image.ErrNotFound, ref)
	}
	expectEmpty(t, s)
	_, err := s.OpenImage(bg, "Bad Ref!")
	if err == nil || !strings.Contains(err.Error(), "Bad Ref!") {
		t.Errorf("bad reference: %v", err)
	}
	root, err := s.OpenImage(bg, reg.Ref("app:1")) // control
	if err != nil {
		t.Fatal(err)
	}
	root.Close()
}

func TestDigestMismatch(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	good := reg.Push(t, "app:1", testImage(t, "one"))
	other := reg.Push(t, "app:2", testImage(t, "two"))
	s := newStore(t, image.Options{})
	goodDigest, otherDigest := good[strings.Index(good, "@")+1:], other[strings.Index(other, "@")+1:]
	reg.Swap(goodDigest, otherDigest) // the registry lies
	_, err := s.Pull(bg, good)
	expectErr(t, err, image.ErrDigestMismatch, goodDigest, otherDigest)
	expectEmpty(t, s)
	if _, err := s.Pull(bg, other); err != nil { // control
		t.Fatal(err)
	}
}

func TestCorruptedLayer(t *testing.T) {
	img := testImage(t, "one")
	layers, _ := img.Layers()
	bad, _ := layers[1].Digest()
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "app:1", img)
	reg.Push(t, "app:2", testImage(t, "two")) // shares layers 0 and 1
	reg.Corrupt(bad)
	s := newStore(t, image.Options{})
	_, err := s.OpenImage(bg, reg.Ref("app:1"))
	expectErr(t, err, image.ErrDigestMismatch, "layer 1", bad.String())
	expectEmpty(t, s)

	lay := filepath.Join(t.TempDir(), "layout")
	imagetest.WriteLayout(t, lay, img, "")
	imagetest.CorruptLayoutBlob(t, lay, bad)
	_, err = s.OpenImage(bg, "oci:"+lay)
	expectErr(t, err, image.ErrDigestMismatch, "layer 1", bad.String())
	expectEmpty(t, s)

	// Control: the same registry serves an image without a corrupt blob.
	other := imagetest.Image(t, v1.Config{}, layers[0], layers[2])
	reg.Push(t, "app:3", other)
	root, err := s.OpenImage(bg, reg.Ref("app:3"))
	if err != nil {
		t.Fatal(err)
	}
	root.Close()
}

func TestDiffIDMismatch(t *testing.T) {
	img := testImage(t, "one")
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	wrong := cf.RootFS.DiffIDs[2]
	cf.RootFS.DiffIDs[2] = cf.RootFS.DiffIDs[0]
	lying, err := mutateConfig(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "lying:1", lying)
	reg.Push(t, "app:1", img)
	s := newStore(t, image.Options{})
	_, err = s.Pull(bg, reg.Ref("lying:1"))
	expectErr(t, err, image.ErrDigestMismatch, "layer 2", "diff_id", wrong.String(), cf.RootFS.DiffIDs[0].String())
	expectEmpty(t, s)
	if _, err := s.Pull(bg, reg.Ref("app:1")); err != nil { // control
		t.Fatal(err)
	}
}

func TestCancelledPull(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "app:1", testImage(t, "one"))
	s := newStore(t, image.Options{})
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := s.Pull(ctx, reg.Ref("app:1")); !errors.Is(err, context.Canceled) {
		t.Errorf("Pull with a cancelled context: %v; want context.Canceled", err)
	}
	// Cancelled mid-pull, from the progress callback.
	ctx, cancel = context.WithCancel(bg)
	defer cancel()
	s2 := newStore(t, image.Options{Progress: func(p image.Progress) {
		if p.Phase == "download" && p.Layer == 1 {
			cancel()
		}
	}})
	if _, err := s2.Pull(ctx, reg.Ref("app:1")); !errors.Is(err, context.Canceled) {
		t.Errorf("Pull cancelled at layer 1: %v; want context.Canceled", err)
	}
	expectEmpty(t, s2)
	if _, err := s2.Pull(bg, reg.Ref("app:1")); err != nil { // control
		t.Fatal(err)
	}
}

func TestDefaultStore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CORRAL_IMAGES", dir)
	if got := image.DefaultDir(); got != dir {
		t.Errorf("DefaultDir() = %q; want $CORRAL_IMAGES %q", got, dir)
	}
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "app:1", testImage(t, "one"))
	s := image.Default()
	root, err := s.OpenImage(bg, reg.Ref("app:1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(root.Dir, dir+"/roots/") {
		t.Errorf("Dir %s; want it in %s/roots", root.Dir, dir)
	}
	root.Close()
	if _, err := s.Prune(true); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORRAL_IMAGES_MAX", "-5")
	if _, err := image.Open(image.Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "CORRAL_IMAGES_MAX") {
		t.Errorf("Open with CORRAL_IMAGES_MAX=-5: %v; want an error naming it", err)
	}
	if _, err := image.Open(image.Options{Dir: dir, MaxBytes: -1}); err == nil || !strings.Contains(err.Error(), "MaxBytes") {
		t.Errorf("Open with MaxBytes -1: %v; want an error naming it", err)
	}
}
