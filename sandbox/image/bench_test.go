package image_test

import (
	"os"
	"testing"

	"github.com/corral-dev/corral/internal/imagetest"
	"github.com/corral-dev/corral/sandbox/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BenchmarkOpenImageCached measures OpenImage of a registry reference the
// cache has: no network, a few small file reads and a shared flock.
func BenchmarkOpenImageCached(b *testing.B) {
	reg := imagetest.NewRegistry(b)
	reg.Push(b, "app:1", testImage(b, "one"))
	s, err := image.Open(image.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ref := reg.Ref("app:1")
	if _, err := s.Pull(bg, ref); err != nil {
		b.Fatal(err)
	}
	before := reg.Requests()
	for b.Loop() {
		root, err := s.OpenImage(bg, ref)
		if err != nil {
			b.Fatal(err)
		}
		root.Close()
	}
	if n := reg.Requests() - before; n != 0 {
		b.Fatalf("%d registry requests", n)
	}
}

// BenchmarkPull50MB measures a cold pull: a 50 MB image of five layers of
// files like a real image's (half text, half random bytes), from the
// in-process registry on loopback, downloaded, verified and unpacked into
// an empty cache each iteration.
func BenchmarkPull50MB(b *testing.B) {
	const size = 50 << 20
	var layers []v1.Layer
	for i := range 5 {
		layers = append(layers, imagetest.Layer(b, imagetest.RandomFiles("usr/lib/l"+string(rune('0'+i)), size/5, 256<<10, uint64(i))...))
	}
	reg := imagetest.NewRegistry(b)
	reg.Push(b, "big:1", imagetest.Image(b, v1.Config{}, layers...))
	ref := reg.Ref("big:1")
	b.SetBytes(size)
	for b.Loop() {
		b.StopTimer()
		dir, err := os.MkdirTemp("", "bench")
		if err != nil {
			b.Fatal(err)
		}
		s, err := image.Open(image.Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		im, err := s.Pull(bg, ref)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if im.Size < size {
			b.Fatalf("unpacked %d bytes; want at least %d", im.Size, size)
		}
		s.Prune(true)
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
