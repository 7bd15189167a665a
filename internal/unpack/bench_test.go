package unpack

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchLayer is a 50 MiB layer like an image's: 40 directories, 1,000
// files of 40 KiB and 10 of 1 MiB.
func benchLayer(b *testing.B) ([]byte, int64) {
	var ents []ent
	small, big := bytes.Repeat([]byte("s"), 40<<10), bytes.Repeat([]byte("B"), 1<<20)
	var size int64
	for d := range 40 {
		ents = append(ents, ent{name: fmt.Sprintf("usr/d%d", d), typ: tar.TypeDir})
		for f := range 25 {
			ents = append(ents, ent{name: fmt.Sprintf("usr/d%d/f%d", d, f), body: string(small)})
			size += int64(len(small))
		}
	}
	for f := range 10 {
		ents = append(ents, ent{name: fmt.Sprintf("big%d", f), body: string(big)})
		size += int64(len(big))
	}
	return layerOf(b, ents...), size
}

// BenchmarkApply applies a 50 MiB layer; compare with BenchmarkWriteFiles,
// the same files written with os.WriteFile (the disk's speed).
func BenchmarkApply(b *testing.B) {
	layer, size := benchLayer(b)
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(b.TempDir(), "root")
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if _, err := Apply(dir, bytes.NewReader(layer), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFiles(b *testing.B) {
	_, size := benchLayer(b)
	small, big := bytes.Repeat([]byte("s"), 40<<10), bytes.Repeat([]byte("B"), 1<<20)
	b.SetBytes(size)
	for b.Loop() {
		dir := b.TempDir()
		for d := range 40 {
			if err := os.MkdirAll(filepath.Join(dir, "usr", fmt.Sprintf("d%d", d)), 0o755); err != nil {
				b.Fatal(err)
			}
			for f := range 25 {
				if err := os.WriteFile(filepath.Join(dir, "usr", fmt.Sprintf("d%d/f%d", d, f)), small, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
		for f := range 10 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("big%d", f)), big, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}
