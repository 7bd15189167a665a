package imagetest_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/imagetest"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestTar(t *testing.T) {
	b := imagetest.Tar(imagetest.Dir("d"), imagetest.File{Name: "d/f", Body: "hi"},
		imagetest.Whiteout("d/old"), imagetest.Opaque("e"), imagetest.Symlink("l", "/abs"), imagetest.Hardlink("h", "d/f"))
	if !bytes.Equal(b, imagetest.Tar(imagetest.Dir("d"), imagetest.File{Name: "d/f", Body: "hi"},
		imagetest.Whiteout("d/old"), imagetest.Opaque("e"), imagetest.Symlink("l", "/abs"), imagetest.Hardlink("h", "d/f"))) {
		t.Error("Tar is not reproducible")
	}
	tr := tar.NewReader(bytes.NewReader(b))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name+":"+string(h.Typeflag)+":"+h.Linkname)
	}
	want := "d:5: d/f:0: d/.wh.old:0: e/.wh..wh..opq:0: l:2:/abs h:1:d/f"
	if strings.Join(got, " ") != want {
		t.Errorf("entries %q; want %q", strings.Join(got, " "), want)
	}
}

// check reads every blob of img and checks each against its digest (as
// pkg/v1/validate would; it needs a module this one does not require).
func check(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		want, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		got, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("layer %s has digest %s", want, got)
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	name, _ := img.ConfigName()
	if got, _, _ := v1.SHA256(bytes.NewReader(cfg)); got != name {
		return fmt.Errorf("config %s has digest %s", name, got)
	}
	return nil
}

func TestImagesValidate(t *testing.T) {
	img := imagetest.Image(t, v1.Config{Cmd: []string{"x"}},
		imagetest.Layer(t, imagetest.RandomFiles("r", 1<<20, 64<<10, 1)...),
		imagetest.Layer(t, imagetest.File{Name: "a", Body: "a"}))
	if err := check(img); err != nil {
		t.Fatal(err)
	}
	if im, err := imagetest.Index(t, img).IndexManifest(); err != nil || len(im.Manifests) != 1 || im.Manifests[0].Platform == nil {
		t.Fatalf("index %+v, %v", im, err)
	}
	dir := t.TempDir()
	imagetest.WriteLayout(t, filepath.Join(dir, "lay"), img, "v1")
	p, err := layout.FromPath(filepath.Join(dir, "lay"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	li, err := p.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(li); err != nil {
		t.Fatal(err)
	}
	imagetest.WriteArchive(t, filepath.Join(dir, "a.tar"), "app:1", img)
	ai, err := tarball.ImageFromPath(filepath.Join(dir, "a.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(ai); err != nil {
		t.Fatal(err)
	}
	// A corrupted layout blob no longer validates.
	layers, _ := img.Layers()
	ld, _ := layers[1].Digest()
	imagetest.CorruptLayoutBlob(t, filepath.Join(dir, "lay"), ld)
	if err := check(li); err == nil {
		t.Error("an image with a corrupted layout blob validates")
	}
}

func TestRegistry(t *testing.T) {
	img := imagetest.Image(t, v1.Config{}, imagetest.Layer(t, imagetest.File{Name: "a", Body: strings.Repeat("a", 1000)}))
	reg := imagetest.NewRegistry(t, imagetest.WithBasicAuth("u", "p"))
	ref := reg.Push(t, "app:1", img)
	n, _ := name.ParseReference(ref)
	if _, err := remote.Image(n); err == nil {
		t.Error("pulled without credentials from a registry that requires them")
	}
	auth := remote.WithAuth(&authn.Basic{Username: "u", Password: "p"})
	got, err := remote.Image(n, auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(got); err != nil { // control
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	reg.Corrupt(ld)
	if err := check(got); err == nil {
		t.Error("an image with a corrupted blob validates")
	}
	if reg.Requests() == 0 {
		t.Error("Requests() = 0")
	}
}

func TestBusybox(t *testing.T) {
	files := imagetest.Busybox(t)
	if len(files) != 2+len(imagetest.BusyboxApplets) || files[1].Name != "bin/busybox" || len(files[1].Body) < 100000 {
		t.Fatalf("Busybox: %d entries, %s of %d bytes", len(files), files[1].Name, len(files[1].Body))
	}
	if err := check(imagetest.Image(t, v1.Config{Entrypoint: []string{"/bin/sh"}}, imagetest.Layer(t, files...))); err != nil {
		t.Fatal(err)
	}
}
