package backend

import (
	"context"
	"sync"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// boxPool keeps n Boxes booted ahead of time, for compiled jobs with the
// default limits; the library pools Sandbox.Run's sandboxes but not Boxes.
// Each Box serves one job and is stopped; a goroutine boots the next.
type boxPool struct {
	sb   *sandbox.Sandbox
	ch   chan *sandbox.Box
	full chan struct{} // closed once the pool has been full
	once sync.Once
	wg   *sync.WaitGroup
	done chan struct{} // closed when the filler has returned
}

// newBoxPool starts filling a pool of n Boxes of sb, each bounded by ctx.
func newBoxPool(ctx context.Context, sb *sandbox.Sandbox, n int, wg *sync.WaitGroup) *boxPool {
	p := &boxPool{sb: sb, ch: make(chan *sandbox.Box, n), full: make(chan struct{}), wg: wg, done: make(chan struct{})}
	if n == 0 {
		close(p.full)
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		p.fill(ctx)
	}()
	return p
}

// fill boots Boxes until ctx ends, blocking while the pool is full.
func (p *boxPool) fill(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		x, err := p.sb.Start(ctx)
		if err != nil {
			select { // the host may recover (memory, cgroups): try again
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		select {
		case p.ch <- x:
			if len(p.ch) == cap(p.ch) {
				p.once.Do(func() { close(p.full) })
			}
		case <-ctx.Done():
			x.Stop()
		}
	}
}

// take returns a booted Box, or nil when none waits.
func (p *boxPool) take() *sandbox.Box {
	for {
		select {
		case x := <-p.ch:
			select {
			case <-x.Done(): // it ended while it waited
				p.stop(x)
				continue
			default:
				return x
			}
		default:
			return nil
		}
	}
}

// stop stops x in the background.
func (p *boxPool) stop(x *sandbox.Box) {
	p.wg.Add(1)
	go func() { defer p.wg.Done(); x.Stop() }()
}

// wait waits until the pool has been full once, or ctx ends.
func (p *boxPool) wait(ctx context.Context) bool {
	select {
	case <-p.full:
		return true
	case <-ctx.Done():
		return false
	}
}

// len returns how many Boxes wait.
func (p *boxPool) len() int { return len(p.ch) }

// close stops the Boxes that wait, once the filler has ended (with the
// context it was given, which must have ended).
func (p *boxPool) close() {
	<-p.done
	for {
		select {
		case x := <-p.ch:
			x.Stop()
		default:
			return
		}
	}
}
