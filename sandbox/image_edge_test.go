package sandbox_test

// Image roots at their edges: too big to copy, a source that waits, and
// what an image costs a cold start.

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// TestImageCopyTooBig: an image bigger than the copy's tmpfs fails the
// set-up with ENOSPC, and the image is closed; the control, the same image
// in a tmpfs big enough, runs.
func TestImageCopyTooBig(t *testing.T) {
	requireSandbox(t)
	defer sandbox.SetImageCopy(sandbox.SetImageCopy(true))
	images := newImages(t, sandbox.ImageConfig{Cmd: []string{"/bin/true"}}, func(dir string) error {
		return os.WriteFile(dir+"/data/big", make([]byte, 8<<20), 0o644)
	})
	for _, size := range []int64{4 << 20, 32 << 20} {
		old := sandbox.SetImageRootSize(size)
		_, res, err := runErr(t, imageOptions(images), &sandbox.Cmd{})
		sandbox.SetImageRootSize(old)
		var se *sandbox.SetupError
		switch {
		case size < 8<<20 && (!errors.As(err, &se) || !errors.Is(err, syscall.ENOSPC)):
			t.Errorf("a %d-byte copy of an image with an 8 MiB file: %v, want a *SetupError matching ENOSPC", size, err)
		case size > 8<<20 && (err != nil || !res.Success()):
			t.Errorf("control: a %d-byte copy: %v, %v", size, res, err)
		}
		t.Logf("a %d-byte copy: %v", size, err)
	}
	images.min = 2
}

// blockingImages is a source whose OpenImage waits for its context.
type blockingImages struct{ opened chan struct{} }

func (b *blockingImages) OpenImage(ctx context.Context, ref string) (*sandbox.ImageRoot, error) {
	select {
	case b.opened <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestImageContext: opening the image honours the context: RunContext's
// (the Run fails with a *SetupError matching its error), Start's, and a
// pool's, which Close ends.
func TestImageContext(t *testing.T) {
	requireSandbox(t)
	src := &blockingImages{opened: make(chan struct{}, 1)}
	opts := sandbox.Options{Image: "slow/image", Images: src}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := sandbox.New(opts).RunContext(ctx, &sandbox.Cmd{})
	var se *sandbox.SetupError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunContext: %v, want a *SetupError matching context.DeadlineExceeded", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := sandbox.New(opts).Start(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start: %v, want an error matching context.DeadlineExceeded", err)
	}
	opts.Pool = 1
	sb := sandbox.New(opts)
	<-src.opened // the filler waits in OpenImage
	done := make(chan error)
	go func() { done <- sb.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close waits for a pool's OpenImage")
	}
}

// BenchmarkImageColdStart runs /bin/true in a fresh sandbox on the fake
// busybox image (2 MB): an overlay root (where the host allows) and a
// tmpfs copy, against the default root in the same iteration.
// go test -run ^$ -bench ImageColdStart -benchtime 100x ./sandbox
func BenchmarkImageColdStart(b *testing.B) {
	requireSandbox(b)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		b.Skip(err)
	}
	dir := b.TempDir()
	if err := os.Mkdir(dir+"/bin", 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dir+"/bin/busybox", bb, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink("busybox", dir+"/bin/true"); err != nil {
		b.Fatal(err)
	}
	images := &fakeImages{dir: dir}
	cold := func(sb *sandbox.Sandbox) float64 {
		t0 := time.Now()
		p, err := sb.Run(sandbox.Command("/bin/true"))
		if err != nil {
			b.Fatal(err)
		}
		if res, err := p.Wait(); err != nil || !res.Success() {
			b.Fatal(res, err)
		}
		return time.Since(t0).Seconds() * 1e3
	}
	def, img := sandbox.New(sandbox.Options{}), sandbox.New(imageOptions(images))
	var d, o, c []float64
	for b.Loop() {
		d = append(d, cold(def))
		o = append(o, cold(img))
		old := sandbox.SetImageCopy(true)
		c = append(c, cold(img))
		sandbox.SetImageCopy(old)
	}
	b.ReportMetric(median(d), "default-p50-ms")
	b.ReportMetric(median(o), "image-p50-ms")
	b.ReportMetric(median(c), "copy-p50-ms")
}
