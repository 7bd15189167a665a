// Command imagebench measures Corral's container images (issue 17): the
// cold pull and unpack of a generated image of about 50 MB from
// go-containerregistry's registry on loopback, next to downloading its
// layers alone; and the start latency of a sandbox on the cached image
// next to one on the default root, cold (a fresh sandbox per run) and warm
// (a pooled one). `make bench-image` runs it; -smoke runs it briefly.
//
// The start cases run once per round, round after round, in a rotating
// order, so drifts of the machine's speed hit all alike; ratios are
// medians of per-round ratios.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/corral-dev/corral/internal/unpack"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/image"
)

func main() {
	sandbox.Main()
	size := flag.Int64("size", 50<<20, "unpacked bytes of the generated image")
	pulls := flag.Int("pulls", 5, "cold pulls to time")
	rounds := flag.Int("rounds", 100, "rounds of the start latency table")
	busybox := flag.String("busybox", "/bin/busybox", "a static busybox for the image")
	smoke := flag.Bool("smoke", false, "run every part briefly (CI): checks that it works, not how fast")
	flag.Parse()
	if *smoke {
		*size, *pulls, *rounds = 4<<20, 1, 3
	}
	if err := run(*size, *pulls, *rounds, *busybox); err != nil {
		fmt.Fprintln(os.Stderr, "imagebench:", err)
		os.Exit(1)
	}
}

func run(size int64, pulls, rounds int, busybox string) error {
	if err := sandbox.Check().Err(); err != nil {
		return fmt.Errorf("sandboxes cannot run here: %w", err)
	}
	fmt.Printf("corral imagebench: %s, %d CPUs, uid %d, %s\n\n", runtime.Version(), runtime.NumCPU(), os.Getuid(), time.Now().Format(time.DateTime))
	img, err := benchImage(busybox, size)
	if err != nil {
		return fmt.Errorf("building the image: %w", err)
	}
	ref, stop, err := serve(img)
	if err != nil {
		return err
	}
	defer stop()
	var compressed int64
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return err
		}
		compressed += n
	}
	fmt.Printf("image: %d layers, %.1f MB unpacked (files), %.1f MB compressed, from %s\n\n", len(layers), mb(size), mb(compressed), ref)

	// Cold pulls, each into an empty cache, next to downloading the
	// layers alone (what the network part costs on loopback).
	var download, pull []time.Duration
	ctx := context.Background()
	for range pulls {
		d, err := downloadOnly(ctx, ref)
		if err != nil {
			return fmt.Errorf("download: %w", err)
		}
		download = append(download, d)
		dir, err := os.MkdirTemp("", "imagebench-")
		if err != nil {
			return err
		}
		st, err := image.Open(image.Options{Dir: dir})
		if err != nil {
			unpack.RemoveAll(dir)
			return err
		}
		start := time.Now()
		_, err = st.Pull(ctx, ref)
		pull = append(pull, time.Since(start))
		unpack.RemoveAll(dir)
		if err != nil {
			return fmt.Errorf("pull: %w", err)
		}
	}
	fmt.Printf("%-44s %10s %10s\n", "cold pull ("+fmt.Sprint(pulls)+" times)", "median ms", "min ms")
	fmt.Printf("%-44s %10.1f %10.1f\n", "download the layers alone (remote, to EOF)", medianMs(download), minMs(download))
	fmt.Printf("%-44s %10.1f %10.1f\n", "corral: pull + verify + unpack into a cache", medianMs(pull), minMs(pull))
	fmt.Println()
	return starts(ctx, ref, rounds)
}

// downloadOnly reads every layer of ref from the registry to EOF.
func downloadOnly(ctx context.Context, ref string) (time.Duration, error) {
	start := time.Now()
	r, err := name.ParseReference(ref)
	if err != nil {
		return 0, err
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func mb(n int64) float64 { return float64(n) / 1e6 }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func medianMs(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return ms(s[len(s)/2])
}

func minMs(ds []time.Duration) float64 { return ms(slices.Min(ds)) }
