package main

// Exec into a running sandbox (sandbox.Box): a row of the latency table,
// and its figures next to a cold and a warm Run (issue 14).

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// boxName is the latency table's row of an Exec into a running Box.
const boxName = "corral exec into a Box"

// boxCase starts a Box (with the default options, as "corral cold
// (seccomp)") and returns a runner that Execs /bin/true into it; the Box
// is stopped by close.
func (b *bench) boxCase() (latencyCase, error) {
	x, err := sandbox.New(sandbox.Options{}).Start(context.Background())
	if err != nil {
		return latencyCase{}, err
	}
	b.boxes = append(b.boxes, x)
	r := runTrue(x.Exec, "a Box")
	if err := r(); err != nil {
		return latencyCase{}, err
	}
	return latencyCase{name: boxName, run: r}, nil
}

// printBoxSummary prints the median latency of an Exec into a Box next to
// a cold and a warm Run's, from the latency table's rounds, with the
// medians of the per-round ratios.
func printBoxSummary(cs []latencyCase, times [][]time.Duration) {
	find := func(name string) int {
		return slices.IndexFunc(cs, func(c latencyCase) bool { return c.name == name })
	}
	box, cold, warm := find(boxName), find("corral cold (seccomp)"), find("corral warm (pool)")
	if box < 0 || cold < 0 || warm < 0 {
		return
	}
	fmt.Printf("\nExec into a running Box, median of %d: %.2f ms; cold Run %.2f ms (Exec %.2fx of it), warm Run %.2f ms (Exec %.2fx of it)\n",
		len(times[box]), pct(slices.Clone(times[box]), 50), pct(slices.Clone(times[cold]), 50), ratio(times, box, cold),
		pct(slices.Clone(times[warm]), 50), ratio(times, box, warm))
}
