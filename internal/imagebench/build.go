package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// busyboxApplets are linked to busybox in the image's /bin.
var busyboxApplets = []string{"sh", "true", "ls", "cat", "echo", "env", "id"}

// benchImage builds the benchmark's image: a layer with the host's static
// busybox and its applets, then layers of generated files that bring the
// unpacked image to about size bytes, half of them random (incompressible,
// like binaries and compressed data) and half text-like (compressible,
// like sources and data files), as real images mix them.
func benchImage(busybox string, size int64) (v1.Image, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	base := []file{{name: "bin/", mode: 0o755}, {name: "bin/busybox", mode: 0o755, data: bb},
		{name: "etc/", mode: 0o755}, {name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\n")},
		{name: "root/", mode: 0o700}, {name: "tmp/", mode: 0o1777}}
	for _, a := range busyboxApplets {
		base = append(base, file{name: "bin/" + a, link: "busybox"})
	}
	layers := [][]file{base}
	rng := rand.New(rand.NewPCG(1, 2))
	rest := size - int64(len(bb))
	const perLayer = 4
	for l := range perLayer {
		dir := fmt.Sprintf("data/layer%d/", l)
		fs := []file{{name: "data/", mode: 0o755}, {name: dir, mode: 0o755}}
		budget := rest / perLayer
		for i := 0; budget > 0; i++ {
			n := min(int64(64<<10+rng.IntN(512<<10)), budget)
			budget -= n
			data := make([]byte, n)
			if i%2 == 0 {
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
			} else {
				textLike(rng, data)
			}
			fs = append(fs, file{name: fmt.Sprintf("%sf%04d", dir, i), mode: 0o644, data: data})
		}
		layers = append(layers, fs)
	}
	img := empty.Image
	for _, fs := range layers {
		b, err := tarOf(fs)
		if err != nil {
			return nil, err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/bin/true"}
	cf.Config.Env = []string{"PATH=/bin"}
	return mutate.ConfigFile(img, cf)
}

// textLike fills b with word-like text.
func textLike(rng *rand.Rand, b []byte) {
	words := strings.Fields("the quick brown fox jumps over a lazy dog while sandbox images unpack layers into caches func return error nil struct")
	i := 0
	for i < len(b) {
		w := words[rng.IntN(len(words))]
		i += copy(b[i:], w)
		if i < len(b) {
			b[i] = " \n"[rng.IntN(8)/7]
			i++
		}
	}
}

// file is an entry of a generated layer: a directory (name ends in /), a
// symlink (link set) or a regular file.
type file struct {
	name string
	mode int64
	data []byte
	link string
}

func tarOf(fs []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range fs {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mt, Format: tar.FormatPAX}
		switch {
		case strings.HasSuffix(f.name, "/"):
			h.Typeflag = tar.TypeDir
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), tw.Close()
}

// serve starts ggcr's in-process registry on loopback and pushes img to
// it as bench/image:latest; it returns the reference and the stop func.
func serve(img v1.Image) (string, func(), error) {
	srv := httptest.NewServer(registry.New(registry.Logger(discardLogger())))
	ref := strings.TrimPrefix(srv.URL, "http://") + "/bench/image:latest"
	r, err := name.ParseReference(ref)
	if err != nil {
		srv.Close()
		return "", nil, err
	}
	if err := remote.Write(r, img); err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("push: %w", err)
	}
	return ref, srv.Close, nil
}
