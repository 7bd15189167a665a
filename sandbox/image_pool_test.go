package sandbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// runCtx marks the context of a Run, to tell its OpenImage calls from the
// pool filler's.
type runCtx struct{}

// splitCounts is a source that counts the opens of Runs (runCtx) apart
// from the pool filler's.
type splitCounts struct {
	*fakeImages
	mu         sync.Mutex
	runs, pool int
}

func (s *splitCounts) OpenImage(ctx context.Context, ref string) (*sandbox.ImageRoot, error) {
	s.mu.Lock()
	if ctx.Value(runCtx{}) != nil {
		s.runs++
	} else {
		s.pool++
	}
	s.mu.Unlock()
	return s.fakeImages.OpenImage(ctx, ref)
}

func (s *splitCounts) counts() (runs, pool int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs, s.pool
}

// TestImagePoolBackoff: a pool whose image fails to open does not keep
// opening it (a store would pull it again each time): the filler pauses
// 1 s, then 2 s, ..., so a pool of 2 tries it a handful of times in 3 s,
// where it used to try about ten. Each Run still tries the image itself
// and returns its error. The control: the same pool over an image that
// opens fills, one open per sandbox.
func TestImagePoolBackoff(t *testing.T) {
	requireSandbox(t)
	failing := &splitCounts{fakeImages: newImages(t, sandbox.ImageConfig{Cmd: []string{"/bin/true"}})}
	failing.err = errNoSuchImage
	opts := sandbox.Options{Image: "fake/broken:latest", Images: failing, Pool: 2}
	start := time.Now()
	sb := sandbox.New(opts)
	defer sb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var se *sandbox.SetupError
	if err := sb.Prewarm(ctx); !errors.As(err, &se) || se.Step != "image" || !errors.Is(err, errNoSuchImage) {
		t.Fatalf("Prewarm: %v, want the image's *SetupError", err)
	}
	runs := 3
	for range runs {
		_, err := sb.RunContext(context.WithValue(ctx, runCtx{}, true), &sandbox.Cmd{})
		if !errors.As(err, &se) || se.Step != "image" || !errors.Is(err, errNoSuchImage) {
			t.Errorf("Run: %v, want the image's *SetupError", err)
		}
	}
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	r, p := failing.counts()
	if r != runs {
		t.Errorf("%d Runs opened the image %d times, want once each", runs, r)
	}
	// At 0 s, 1 s and 3 s, or a fourth should the machine be slow: never
	// the ~10 of a pause that stops growing at 1 s.
	if p < 2 || p > 4 {
		t.Errorf("the pool's filler opened the failing image %d times in %v, want 2 to 4", p, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("in %v: %d opens by Runs, %d by the pool's filler", time.Since(start).Round(time.Millisecond), r, p)
	if err := sb.Close(); err != nil {
		t.Error(err)
	}

	// The control: the same, over an image that opens.
	good := &splitCounts{fakeImages: newImages(t, sandbox.ImageConfig{Cmd: []string{"/bin/true"}})}
	opts.Images = good
	sb = sandbox.New(opts)
	defer sb.Close()
	prewarm(t, sb)
	if r, p := good.counts(); r != 0 || p != 2 {
		t.Errorf("a filled pool of 2: %d opens by Runs, %d by the filler; want 0, 2", r, p)
	}
	if err := sb.Close(); err != nil {
		t.Error(err)
	}
	good.min = 2
}
