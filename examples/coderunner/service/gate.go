package service

import (
	"context"
	"errors"
	"sync"
)

// errQueueFull is acquire's answer when the queue holds its maximum.
var errQueueFull = errors.New("queue full")

// gate lets concurrency jobs run at once and queue more wait; past that
// it refuses at once.
type gate struct {
	slots   chan struct{}
	mu      sync.Mutex
	waiting int
	queue   int
	depth   func(int) // reports the number waiting
}

func newGate(concurrency, queue int, depth func(int)) *gate {
	return &gate{slots: make(chan struct{}, concurrency), queue: queue, depth: depth}
}

// errDraining is acquire's answer to a job queued when the server
// began to drain.
var errDraining = errors.New("shutting down")

// acquire takes a slot, waiting in the queue if there is room, until ctx
// ends or drained is closed; release gives it back.
func (g *gate) acquire(ctx context.Context, drained <-chan struct{}) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	g.mu.Lock()
	if g.waiting >= g.queue {
		g.mu.Unlock()
		return errQueueFull
	}
	g.waiting++
	g.depth(g.waiting)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.depth(g.waiting)
		g.mu.Unlock()
	}()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-drained:
		return errDraining
	}
}

func (g *gate) release() { <-g.slots }
