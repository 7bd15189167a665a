package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// interleave runs every case once per round, in an order that rotates
// each round, after warm-up rounds; times[c][r] is case c in round r.
func interleave(cs []latencyCase, rounds, warmup int) ([][]time.Duration, error) {
	times := make([][]time.Duration, len(cs))
	for r := -warmup; r < rounds; r++ {
		for i := range cs {
			c := cs[(i+max(r, 0))%len(cs)]
			ci := (i + max(r, 0)) % len(cs)
			// Every pool full: no refill runs during the timed run.
			for _, o := range cs {
				if o.sb != nil {
					if err := o.sb.Prewarm(context.Background()); err != nil {
						return nil, fmt.Errorf("%s: %w", o.name, err)
					}
				}
			}
			// And settled: the last run's sandbox torn down (with a pool,
			// after Wait) and the new pooled inits done with their start,
			// so no case pays for another's background work. Every case
			// then starts from an idle machine, as a service waiting for
			// its next request does.
			time.Sleep(settle)
			start := time.Now()
			if err := c.run(); err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			if r >= 0 {
				times[ci] = append(times[ci], time.Since(start))
			}
		}
	}
	return times, nil
}

// settle is the pause before each timed run of the latency tables.
const settle = 10 * time.Millisecond

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// pct returns the p-th percentile of ds (which it sorts), in ms.
func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := min(int(float64(len(ds))*p/100), len(ds)-1)
	return ms(ds[i])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio is the median over rounds of times[a][r] / times[b][r].
func ratio(times [][]time.Duration, a, b int) float64 {
	var rs []float64
	for r := range times[a] {
		rs = append(rs, float64(times[a][r])/float64(times[b][r]))
	}
	return median(rs)
}

// throughput runs r in workers goroutines for d and returns runs per second.
func throughput(r runner, workers int, d time.Duration) (float64, error) {
	var n atomic.Int64
	var firstErr atomic.Pointer[error]
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := r(); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, *e
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// concurrent runs r in k goroutines at once for d and returns every run's latency.
func concurrent(r runner, k int, d time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	var all []time.Duration
	var firstErr atomic.Pointer[error]
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				start := time.Now()
				if err := r(); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				mu.Lock()
				all = append(all, time.Since(start))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return nil, *e
	}
	return all, nil
}

// pooledRun is a runner on a pooled sandbox that does not wait for refills.
func pooledRun(sb *sandbox.Sandbox) runner {
	return func() error {
		p, err := sb.Run(sandbox.Command("/bin/true"))
		if err != nil {
			return err
		}
		_, err = p.Wait()
		return err
	}
}
