// Package imagetest builds container images for tests: layers from
// in-memory files (whiteouts and raw crafted tar streams included),
// images and multi-platform indexes, an in-process registry on loopback
// (go-containerregistry's pkg/registry) to push them to, OCI layouts and
// docker save archives on disk, and ways to corrupt their blobs.
package imagetest

import (
	"archive/tar"
	"bytes"
	"io"
	"math/rand/v2"
	"path"
	"runtime"
	"strconv"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is an entry of a layer.
type File struct {
	Name string // the path in the image, relative ("etc/passwd")
	Body string // a regular file's content
	Mode int64  // permission bits; 0 means 0644 (files) or 0755 (dirs)
	Type byte   // tar.TypeReg (the zero value means it too), TypeDir, TypeSymlink, TypeLink...
	Link string // a link's target
}

// Dir is a directory entry.
func Dir(name string) File { return File{Name: name, Type: tar.TypeDir} }

// Symlink is a symbolic link entry.
func Symlink(name, target string) File { return File{Name: name, Type: tar.TypeSymlink, Link: target} }

// Hardlink is a hard link entry.
func Hardlink(name, target string) File { return File{Name: name, Type: tar.TypeLink, Link: target} }

// Whiteout is the entry that deletes name from the layers below.
func Whiteout(name string) File {
	return File{Name: path.Join(path.Dir(name), ".wh."+path.Base(name))}
}

// Opaque is the entry that hides what the layers below put in dir.
func Opaque(dir string) File { return File{Name: path.Join(dir, ".wh..wh..opq")} }

// epoch is the fixed mtime of built entries: builds are reproducible.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Tar returns the tar stream of files, in order.
func Tar(files ...File) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Typeflag: f.Type, Mode: f.Mode, Linkname: f.Link, ModTime: epoch, Format: tar.FormatPAX}
		switch f.Type {
		case 0, tar.TypeReg:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.Body))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		case tar.TypeDir:
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		default:
			if h.Mode == 0 {
				h.Mode = 0o777
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			panic("imagetest: " + err.Error()) // only bad File values get here
		}
		io.WriteString(tw, f.Body)
	}
	tw.Close()
	return buf.Bytes()
}

// Layer returns a gzip-compressed layer of files.
func Layer(t testing.TB, files ...File) v1.Layer {
	return TarLayer(t, Tar(files...), types.OCILayer)
}

// TarLayer returns a layer of the raw tar stream b (which may be crafted
// to be invalid or malicious), gzip-compressed, with media type mt.
func TarLayer(t testing.TB, b []byte, mt types.MediaType) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(mt), tarball.WithCompressedCaching)
	if err != nil {
		t.Fatalf("imagetest: layer: %v", err)
	}
	return l
}

// Image returns an image of layers (bottom first) with cfg, for
// linux/GOARCH.
func Image(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	return PlatformImage(t, v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, cfg, layers...)
}

// PlatformImage returns an image of layers for platform p.
func PlatformImage(t testing.TB, p v1.Platform, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers...)
	if err != nil {
		t.Fatalf("imagetest: image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("imagetest: image: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config = cfg
	cf.Created = v1.Time{Time: epoch}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("imagetest: image: %v", err)
	}
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

// Index returns a multi-platform index of images, each described with
// its config's platform.
func Index(t testing.TB, images ...v1.Image) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatalf("imagetest: index: %v", err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}}})
	}
	return idx
}

// RandomFiles returns files of n bytes in all, in files of about size
// bytes each under dir, with content like a real image's: about half
// text-like (compresses well), half random (does not). seed makes it
// reproducible.
func RandomFiles(dir string, n, size int64, seed uint64) []File {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := []string{"func ", "return ", "if err != nil {", "}\n", "package ", "import ", "\t", "x := ", "0x1f, ", "// comment\n", "string", "int64 "}
	var files []File
	for i := 0; n > 0; i++ {
		sz := min(n, size/2+r.Int64N(size))
		b := make([]byte, 0, sz)
		if i%2 == 0 {
			for int64(len(b)) < sz {
				b = append(b, words[r.IntN(len(words))]...)
			}
			b = b[:sz]
		} else {
			b = b[:sz]
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		}
		files = append(files, File{Name: path.Join(dir, "f"+strconv.Itoa(i)), Body: string(b)})
		n -= sz
	}
	return files
}
