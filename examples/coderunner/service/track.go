package service

import (
	"context"
	"sync"
)

// tracker counts the jobs that hold or wait for a slot, and is how Drain
// reaches them: once draining, add refuses new jobs (in the same lock as
// the count, so that none slips in after Wait found none), and drained
// wakes those waiting in the queue.
type tracker struct {
	mu       sync.Mutex
	n        int
	draining bool
	drained  chan struct{} // closed by drain
	zero     chan struct{} // closed when n drops to 0; nil while none waits for it
}

func newTracker() *tracker { return &tracker{drained: make(chan struct{})} }

// add counts one more job, or reports false once draining.
func (t *tracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return false
	}
	t.n++
	return true
}

// done uncounts a job add counted.
func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.zero != nil {
		close(t.zero)
		t.zero = nil
	}
}

// drain refuses new jobs from now on and wakes the queued ones.
func (t *tracker) drain() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.draining {
		t.draining = true
		close(t.drained)
	}
}

// isDraining reports whether drain was called.
func (t *tracker) isDraining() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.draining
}

// wait waits until no job is counted, or ctx ends.
func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.zero == nil {
		t.zero = make(chan struct{})
	}
	z := t.zero
	t.mu.Unlock()
	select {
	case <-z:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
