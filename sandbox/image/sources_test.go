package image_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/imagetest"
	"github.com/corral-dev/corral/sandbox/image"
	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestLocalSources(t *testing.T) {
	dir := t.TempDir()
	img := testImage(t, "local")
	lay := filepath.Join(dir, "layout")
	imagetest.WriteLayout(t, lay, img, "v1")
	imagetest.WriteLayout(t, lay, testImage(t, "other"), "v2")
	single := filepath.Join(dir, "single")
	imagetest.WriteLayout(t, single, img, "")
	archive := filepath.Join(dir, "app.tar")
	imagetest.WriteArchive(t, archive, "app:1", img)
	want, _ := img.ConfigName()

	s := newStore(t, image.Options{})
	for _, ref := range []string{"oci:" + lay + ":v1", "oci-layout:" + single, single, "docker-archive:" + archive, archive} {
		t.Run(strings.ReplaceAll(ref, "/", "_"), func(t *testing.T) {
			root, err := s.OpenImage(bg, ref)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			if root.Digest != want.String() {
				t.Errorf("Digest %s; want %s", root.Digest, want)
			}
			checkTestImage(t, root.Dir, "local")
		})
	}
	if n := len(entries(t, s, "roots")); n != 1 {
		t.Errorf("%d roots; want 1: the same image from five sources", n)
	}
	// A layout with two tagged images needs the tag.
	_, err := s.OpenImage(bg, "oci:"+lay)
	expectErr(t, err, image.ErrNotFound, ":TAG", `"v1"`, `"v2"`)
	_, err = s.OpenImage(bg, "oci:"+lay+":v3")
	expectErr(t, err, image.ErrNotFound, "v3", "v1", "v2")
	_, err = s.OpenImage(bg, filepath.Join(dir, "nothing"))
	expectErr(t, err, image.ErrNotFound, "nothing")
	_, err = s.OpenImage(bg, dir) // a directory, not a layout
	expectErr(t, err, image.ErrUnsupported, "oci-layout")
}

func TestLayerCompressions(t *testing.T) {
	b := imagetest.Tar(imagetest.File{Name: "z", Body: strings.Repeat("zstd ", 1000)})
	zl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	if err != nil {
		t.Fatal(err)
	}
	raw := static.NewLayer(imagetest.Tar(imagetest.File{Name: "u", Body: "uncompressed"}), types.OCIUncompressedLayer)
	img := imagetest.Image(t, v1.Config{}, zl, raw, imagetest.Layer(t, imagetest.File{Name: "g", Body: "gzip"}))
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "mixed:1", img)
	s := newStore(t, image.Options{})
	root, err := s.OpenImage(bg, reg.Ref("mixed:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for name, want := range map[string]string{"z": strings.Repeat("zstd ", 1000), "u": "uncompressed", "g": "gzip"} {
		if got, err := os.ReadFile(filepath.Join(root.Dir, name)); err != nil || string(got) != want {
			t.Errorf("%s: %.20q, %v; want %.20q", name, got, err, want)
		}
	}
}

// TestArchiveUncompressed reads a docker save archive whose layers are
// plain tars (as docker save writes them), and refuses one whose layer
// does not match its diff_id.
func TestArchiveUncompressed(t *testing.T) {
	body := "a body found once in the archive"
	img := imagetest.Image(t, v1.Config{},
		static.NewLayer(imagetest.Tar(imagetest.File{Name: "a", Body: body}), types.DockerUncompressedLayer),
		static.NewLayer(imagetest.Tar(imagetest.File{Name: "b", Body: "b"}), types.DockerUncompressedLayer))
	archive := filepath.Join(t.TempDir(), "app.tar")
	imagetest.WriteArchive(t, archive, "app:1", img)
	s := newStore(t, image.Options{})
	root, err := s.OpenImage(bg, archive)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root.Dir, "a")); err != nil || string(b) != body {
		t.Errorf("a: %q, %v", b, err)
	}
	root.Close()
	if err := s.Remove(root.Digest); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(body))
	if i < 0 || bytes.Count(b, []byte(body)) != 1 {
		t.Fatalf("the layer's content is not in the archive once, uncompressed")
	}
	b[i] ^= 0x20 // 'a' -> 'A': the tar stays valid, its digest changes
	if err := os.WriteFile(archive, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	_, err = s.OpenImage(bg, archive)
	expectErr(t, err, image.ErrDigestMismatch, "layer 0", "diff_id", cf.RootFS.DiffIDs[0].String())
	expectEmpty(t, s)
}

func TestArchiveTags(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "two.tar")
	imagetest.WriteArchiveTags(t, archive, map[string]v1.Image{"app:1": testImage(t, "one"), "app:2": testImage(t, "two")})
	s := newStore(t, image.Options{})
	_, err := s.OpenImage(bg, archive)
	expectErr(t, err, image.ErrUnsupported, "docker-archive:FILE:TAG")
	for _, mark := range []string{"one", "two"} {
		tag := map[string]string{"one": "app:1", "two": "app:2"}[mark]
		root, err := s.OpenImage(bg, "docker-archive:"+archive+":"+tag)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(root.Dir, "srv/mark")); string(b) != mark {
			t.Errorf("%s: mark %q; want %q", tag, b, mark)
		}
		root.Close()
	}
	_, err = s.OpenImage(bg, "docker-archive:"+archive+":app:3")
	if err == nil || !strings.Contains(err.Error(), "app:3") {
		t.Errorf("a tag the archive lacks: %v", err)
	}
}
