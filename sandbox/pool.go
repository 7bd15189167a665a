package sandbox

// The warm pool (Options.Pool): sandboxes booted and built ahead of time,
// each waiting for a run to borrow it.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// pool keeps up to n sandboxes ready. A filler goroutine boots them one at
// a time; each take hands one to a run, whose end (or refillDelay) asks the
// filler for another, unless the sandbox comes back itself (Reuse).
type pool struct {
	ready  chan *booted  // built, waiting for a run
	refill chan struct{} // one token per sandbox to make
	ctx    context.Context
	cancel context.CancelFunc
	filler sync.WaitGroup
	once   sync.Once

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced when a sandbox is ready or one failed
	lastErr   error         // why the last sandbox failed to build, nil after a success
	closed    bool          // Close has begun: nothing goes back into ready
	recycling sync.WaitGroup
	retiring  sync.WaitGroup // sandboxes whose runs ended, being torn down
	retireErr error          // the first teardown that failed, for Close
	retireBad int            // and how many did
}

// event records a filled sandbox (err nil) or a failure and wakes Prewarm.
func (pl *pool) event(err error) {
	pl.mu.Lock()
	pl.lastErr = err
	close(pl.changed)
	pl.changed = make(chan struct{})
	pl.mu.Unlock()
}

func (s *Sandbox) startPool(n int) {
	ctx, cancel := context.WithCancel(context.Background())
	pl := &pool{ready: make(chan *booted, n), refill: make(chan struct{}, n), ctx: ctx, cancel: cancel,
		changed: make(chan struct{})}
	for range n {
		pl.refill <- struct{}{}
	}
	s.pool = pl
	pl.filler.Go(func() { s.fill(pl) })
}

// fill makes a sandbox for every token until the pool closes. A sandbox
// that fails to build is retried after a growing pause (fillBackoff; Run,
// which starts its own meanwhile, reports the error to its caller).
func (s *Sandbox) fill(pl *pool) {
	var backoff fillBackoff
	for {
		select {
		case <-pl.ctx.Done():
			return
		case <-pl.refill:
		}
		err := s.compileErr(true) // the filler may wait for it; no init for a failed one
		var b *booted
		if err == nil {
			b, err = s.boot(pl.ctx)
		}
		if err == nil {
			if err = b.awaitReady(); err != nil {
				b.res.close()
			}
		}
		if err != nil {
			pl.refill <- struct{}{}
			pl.event(err)
			select {
			case <-pl.ctx.Done():
				return
			case <-time.After(backoff.next(err)):
			}
			continue
		}
		backoff = fillBackoff{}
		select {
		case pl.ready <- b:
			pl.event(nil)
		case <-pl.ctx.Done():
			b.discard()
			return
		}
	}
}

// fillBackoff is the pool filler's pause after a sandbox failed to
// build: 10 ms, doubling to 1 s, for a failure in general; but 1 s,
// doubling to 1 min, when the image failed to open (a *SetupError with
// Step "image"), which may have cost a download of the whole image (a
// store that pulls it) and will likely fail the same way: a pool must not
// pull a broken image again and again against a registry that limits its
// rate. The zero value is the start; a sandbox built resets it.
type fillBackoff struct {
	general, image time.Duration // the last pause of each kind, 0 before the first
}

// The bounds of fillBackoff's pauses.
const (
	fillPauseFirst      = 10 * time.Millisecond
	fillPauseMax        = time.Second
	fillImagePauseFirst = time.Second
	fillImagePauseMax   = time.Minute
)

// next returns the pause after the failure err.
func (b *fillBackoff) next(err error) time.Duration {
	var se *SetupError
	if errors.As(err, &se) && se.Step == "image" {
		b.image = grow(b.image, fillImagePauseFirst, fillImagePauseMax)
		return b.image
	}
	b.general = grow(b.general, fillPauseFirst, fillPauseMax)
	return b.general
}

// grow returns first when last is 0, else twice last, at most most.
func grow(last, first, most time.Duration) time.Duration {
	if last == 0 {
		return first
	}
	return min(2*last, most)
}

// Prewarm waits until the pool holds Options.Pool sandboxes ready for their
// commands, as a server would before it takes requests. It returns the
// error that keeps the pool from filling (the one a Run would get, a
// cgroup that cannot be created, say), ctx's error when ctx ends first, or
// ErrPoolClosed after Close. Without a pool it returns nil at once.
func (s *Sandbox) Prewarm(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	pl := s.pool
	if pl == nil {
		if s.opts.Pool > 0 && !s.canBoot() {
			return ErrMainNotCalled
		}
		return nil
	}
	for {
		pl.mu.Lock()
		n, err, changed := len(pl.ready), pl.lastErr, pl.changed
		pl.mu.Unlock()
		switch {
		case pl.ctx.Err() != nil:
			return ErrPoolClosed
		case n >= cap(pl.ready):
			return nil
		case err != nil:
			return err
		}
		select {
		case <-changed:
		case <-pl.ctx.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// take returns a pooled sandbox for a run to borrow, or nil when none is
// ready. Its refill gives its place in the pool back to the filler.
func (s *Sandbox) take() *booted {
	if s.pool == nil {
		return nil
	}
	select {
	case b := <-s.pool.ready:
		var once sync.Once
		b.refill = func() {
			once.Do(func() { s.pool.refill <- struct{}{} }) // never blocks: at most n tokens and sandboxes exist
		}
		return b
	default:
		return nil
	}
}

// refillDelay is how long after a warm Run returns its sandbox's
// replacement is built, unless the run ends first: building one while the
// handed-over command starts would compete with it for the CPU.
const refillDelay = 10 * time.Millisecond

// refillLater has the place in the pool of b, taken by a warm run,
// refilled when the run ends or after refillDelay, whichever comes first.
func (b *booted) refillLater() {
	if b.refill != nil {
		time.AfterFunc(refillDelay, b.refill)
	}
}

// Close ends the sandboxes waiting in the pool and stops refilling it; it
// waits until they are gone, and until the sandboxes of runs that ended
// are torn down (with a pool, Wait returns as soon as every process of the
// run is dead, and the init's exit, the namespaces and the cgroup go after
// it). Runs already started are not affected, and later Runs start their
// sandboxes afresh, as without a pool. Without a pool Close does nothing.
// It returns what tearing down ended sandboxes failed at (the first, and
// how many: a cgroup that could not be removed, say), which Wait without a
// pool would have returned.
func (s *Sandbox) Close() error {
	if s.pool == nil {
		return nil
	}
	var err error
	s.pool.once.Do(func() {
		s.pool.mu.Lock()
		s.pool.closed = true
		s.pool.mu.Unlock()
		s.pool.cancel()
		s.pool.filler.Wait()
		s.pool.recycling.Wait()
		s.pool.retiring.Wait()
		err = s.pool.retireErr
		if n := s.pool.retireBad; n > 1 {
			err = fmt.Errorf("%w (and %d more sandboxes failed to be torn down)", err, n-1)
		}
		for {
			select {
			case b := <-s.pool.ready:
				b.discard()
			default:
				return
			}
		}
	})
	return err
}

// retire tears b down in the background, once Wait has accounted for the
// run that borrowed it; Close waits for it. It reports false, having
// started nothing, when the pool is closed: the caller tears it down.
func (s *Sandbox) retire(b *booted) bool {
	pl := s.pool
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.closed {
		return false
	}
	pl.retiring.Go(func() {
		if err := b.teardown(); err != nil {
			pl.mu.Lock()
			if pl.retireBad == 0 {
				pl.retireErr = err
			}
			pl.retireBad++
			pl.mu.Unlock()
		}
	})
	return true
}

// recycle starts taking back b, a reusable sandbox whose run has ended:
// the init resets it (Options.Reuse) while its command's cgroup is
// renewed, and then it goes back into the pool, or is ended if anything
// fails or the pool is full or closed. It reports false, having started
// nothing, when the pool is closed: the caller ends the sandbox.
func (s *Sandbox) recycle(b *booted) bool {
	pl := s.pool
	if pl == nil {
		return false
	}
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return false
	}
	pl.recycling.Add(1)
	pl.mu.Unlock()
	refill := b.refill
	go func() {
		defer pl.recycling.Done()
		err := b.reset()
		if err == nil {
			pl.mu.Lock()
			if pl.closed {
				err = ErrPoolClosed
			} else {
				select {
				case pl.ready <- b: // Close, if it comes, drains it
				default:
					err = errPoolFull
				}
			}
			pl.mu.Unlock()
			if err == nil {
				pl.event(nil)
				return
			}
		}
		b.discard()
		if refill != nil && err != errPoolFull && err != ErrPoolClosed {
			refill() // its place is refilled with a new sandbox
		}
	}()
	return true
}

var errPoolFull = errors.New("sandbox: pool full")

// reset waits for the init to report b reset after a run, renews the
// command's cgroup, and leaves b ready for the next run, out of the
// place in the pool it was taken from (it goes back into one).
func (b *booted) reset() error {
	b.readyTaken, b.refill = false, nil
	if cg := b.res.cg; cg != nil {
		if err := cg.Renew(); err != nil {
			return err
		}
	}
	m, ok := <-b.answers
	if !ok {
		return fmt.Errorf("sandbox: reset: %w", b.readError())
	}
	if m.Ready == nil {
		return errors.New("sandbox: reset failed")
	}
	b.readyTaken = true
	return nil
}
