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

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/corral-dev/corral/internal/imagetest"
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
	base := []imagetest.File{imagetest.Dir("bin"), {Name: "bin/busybox", Mode: 0o755, Body: string(bb)},
		imagetest.Dir("etc"), {Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\n"},
		{Name: "root", Type: tar.TypeDir, Mode: 0o700}, {Name: "tmp", Type: tar.TypeDir, Mode: 0o1777}}
	for _, a := range busyboxApplets {
		base = append(base, imagetest.Symlink("bin/"+a, "busybox"))
	}
	layers := [][]imagetest.File{base}
	rng := rand.New(rand.NewPCG(1, 2))
	rest := size - int64(len(bb))
	const perLayer = 4
	for l := range perLayer {
		dir := fmt.Sprintf("data/layer%d/", l)
		fs := []imagetest.File{imagetest.Dir("data"), imagetest.Dir(dir)}
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
			fs = append(fs, imagetest.File{Name: fmt.Sprintf("%sf%04d", dir, i), Body: string(data)})
		}
		layers = append(layers, fs)
	}
	img := empty.Image
	for _, fs := range layers {
		b := imagetest.Tar(fs...)
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
