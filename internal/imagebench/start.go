package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/corral-dev/corral/internal/unpack"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/image"
)

// startCase is one row of the start latency table: a Sandbox and whether
// its runs come from a pool.
type startCase struct {
	name   string
	sb     *sandbox.Sandbox
	pooled bool
}

// starts times /bin/true in sandboxes on the default root and on the
// image (pulled first into a cache of its own), cold and warm.
func starts(ctx context.Context, ref string, rounds int) error {
	dir, err := os.MkdirTemp("", "imagebench-")
	if err != nil {
		return err
	}
	defer unpack.RemoveAll(dir)
	st, err := image.Open(image.Options{Dir: dir})
	if err != nil {
		return err
	}
	if _, err := st.Pull(ctx, ref); err != nil {
		return err
	}
	withImage := sandbox.Options{Image: ref, Images: st}
	pooled := func(o sandbox.Options) sandbox.Options { o.Pool = 1; return o }
	cases := []startCase{
		{name: "default root, cold", sb: sandbox.New(sandbox.Options{})},
		{name: "image, cold", sb: sandbox.New(withImage)},
		{name: "default root, warm (Pool 1)", sb: sandbox.New(pooled(sandbox.Options{})), pooled: true},
		{name: "image, warm (Pool 1)", sb: sandbox.New(pooled(withImage)), pooled: true},
	}
	defer func() {
		for _, c := range cases {
			c.sb.Close()
		}
	}()

	// The image's first sandbox in this process, before any other.
	first := time.Now()
	if err := runTrue(cases[1].sb); err != nil {
		return fmt.Errorf("%s: %w", cases[1].name, err)
	}
	firstRun := time.Since(first)

	times := make([][]time.Duration, len(cases))
	const warmup = 3
	for r := -warmup; r < rounds; r++ {
		for i := range cases {
			ci := (i + max(r, 0)) % len(cases)
			for _, c := range cases {
				if c.pooled {
					if err := c.sb.Prewarm(ctx); err != nil {
						return fmt.Errorf("%s: %w", c.name, err)
					}
				}
			}
			time.Sleep(10 * time.Millisecond) // teardowns and refills done
			start := time.Now()
			if err := runTrue(cases[ci].sb); err != nil {
				return fmt.Errorf("%s: %w", cases[ci].name, err)
			}
			if r >= 0 {
				times[ci] = append(times[ci], time.Since(start))
			}
		}
	}
	fmt.Printf("%-34s %8s %8s %8s\n", "start of /bin/true ("+fmt.Sprint(rounds)+" rounds)", "p50 ms", "p90 ms", "vs root")
	for i, c := range cases {
		vs := "-"
		if i%2 == 1 {
			vs = fmt.Sprintf("%.2fx", ratio(times[i], times[i-1]))
		}
		fmt.Printf("%-34s %8.2f %8.2f %8s\n", c.name, pct(times[i], 50), pct(times[i], 90), vs)
	}
	fmt.Printf("\nthe image's first sandbox in this process (cached image): %.2f ms\n", ms(firstRun))
	return nil
}

func runTrue(sb *sandbox.Sandbox) error {
	p, err := sb.Run(sandbox.Command("/bin/true"))
	if err != nil {
		return err
	}
	res, err := p.Wait()
	if err != nil {
		return err
	}
	if !res.Success() {
		return fmt.Errorf("/bin/true: %v", res)
	}
	return nil
}

func pct(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return ms(s[min(int(float64(len(s))*p/100), len(s)-1)])
}

// ratio is the median over rounds of a[r] / b[r].
func ratio(a, b []time.Duration) float64 {
	var rs []float64
	for r := range a {
		rs = append(rs, float64(a[r])/float64(b[r]))
	}
	slices.Sort(rs)
	return rs[len(rs)/2]
}
