package imagetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// WriteLayout writes img into the OCI image layout dir (created if
// needed; an existing layout gets one more image), named tag in its
// index.json when tag is not "".
func WriteLayout(t testing.TB, dir string, img v1.Image, tag string) {
	t.Helper()
	p := openLayout(t, dir)
	var opts []layout.Option
	if tag != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
	}
	if err := p.AppendImage(img, opts...); err != nil {
		t.Fatalf("imagetest: layout %s: %v", dir, err)
	}
}

// WriteLayoutIndex writes the index idx into the OCI image layout dir.
func WriteLayoutIndex(t testing.TB, dir string, idx v1.ImageIndex) {
	t.Helper()
	if err := openLayout(t, dir).AppendIndex(idx); err != nil {
		t.Fatalf("imagetest: layout %s: %v", dir, err)
	}
}

func openLayout(t testing.TB, dir string) layout.Path {
	t.Helper()
	if p, err := layout.FromPath(dir); err == nil {
		return p
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatalf("imagetest: layout %s: %v", dir, err)
	}
	return p
}

// WriteArchive writes img, tagged tag (e.g. "app:1"), as a docker save
// archive file.
func WriteArchive(t testing.TB, file, tag string, img v1.Image) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatalf("imagetest: archive: %v", err)
	}
	if err := tarball.WriteToFile(file, ref, img); err != nil {
		t.Fatalf("imagetest: archive %s: %v", file, err)
	}
}

// WriteArchiveTags writes a docker save archive holding several images,
// by tag (e.g. "app:1").
func WriteArchiveTags(t testing.TB, file string, images map[string]v1.Image) {
	t.Helper()
	m := map[name.Tag]v1.Image{}
	for tag, img := range images {
		ref, err := name.NewTag(tag)
		if err != nil {
			t.Fatalf("imagetest: archive: %v", err)
		}
		m[ref] = img
	}
	if err := tarball.MultiWriteToFile(file, m); err != nil {
		t.Fatalf("imagetest: archive %s: %v", file, err)
	}
}

// CorruptLayoutBlob changes one byte (at the middle) of blob h in the OCI
// layout dir.
func CorruptLayoutBlob(t testing.TB, dir string, h v1.Hash) {
	t.Helper()
	p := filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	b[len(b)/2] ^= 0xff
	os.Chmod(p, 0o644) // go-containerregistry may write blobs read-only
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
}
