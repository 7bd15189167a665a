package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// run measures everything and prints the tables and the targets.
func (b *bench) run(rounds int, dur time.Duration, soak int) error {
	cs, err := b.cases()
	if err != nil {
		return err
	}
	find := func(name string) int {
		return slices.IndexFunc(cs, func(c latencyCase) bool { return c.name == name })
	}
	ex, bw := 0, find("bwrap --unshare-all")

	fmt.Printf("## Latency of one /bin/true, %d interleaved rounds\n\n", rounds)
	times, err := interleave(cs, rounds, 3)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tp50 ms\tp99 ms\tx exec\tx bwrap\t")
	for i, c := range cs {
		xb := "-"
		if bw >= 0 {
			xb = fmt.Sprintf("%.2f", ratio(times, i, bw))
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%s\t\n", c.name, pct(slices.Clone(times[i]), 50), pct(slices.Clone(times[i]), 99), ratio(times, i, ex), xb)
	}
	tw.Flush()
	printBoxSummary(cs, times)

	fmt.Printf("\n## Runs per second, N workers, %v each\n\n", dur)
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\t1 worker\t2 workers\t8 workers\t")
	rates := map[string][]float64{}
	for _, name := range []string{"exec.Command(/bin/true)", "bwrap --unshare-all", floorName, "corral cold (seccomp)", "corral warm (pool)", "corral warm, reuse"} {
		i := find(name)
		if i < 0 {
			continue
		}
		r := cs[i].run
		if sb := cs[i].sb; sb != nil {
			r = pooledRun(sb) // sustained: the pool refills as it can
		}
		fmt.Fprintf(tw, "%s\t", name)
		for _, w := range []int{1, 2, 8} {
			rate, err := throughput(r, w, dur)
			if err != nil {
				return fmt.Errorf("%s, %d workers: %w", name, w, err)
			}
			rates[name] = append(rates[name], rate)
			fmt.Fprintf(tw, "%.0f\t", rate)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()

	fmt.Printf("\n## Latency with N sandboxes at once, %v each (p50 / p99 ms)\n\n", dur)
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\t1\t2\t8\t32\t")
	for _, name := range []string{"corral cold (seccomp)", "corral warm (pool)", "corral warm, reuse"} {
		i := find(name)
		if i < 0 {
			continue
		}
		r := cs[i].run
		if sb := cs[i].sb; sb != nil {
			r = pooledRun(sb)
		}
		fmt.Fprintf(tw, "%s\t", name)
		for _, k := range []int{1, 2, 8, 32} {
			lat, err := concurrent(r, k, dur)
			if err != nil {
				return fmt.Errorf("%s, %d at once: %w", name, k, err)
			}
			fmt.Fprintf(tw, "%.1f / %.1f\t", pct(lat, 50), pct(lat, 99))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()

	fmt.Printf("\n## Latency against the number of bind mounts, %d interleaved rounds\n\n", max(rounds/4, 3))
	dir, err := os.MkdirTemp("", "corral-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bcs, err := b.bindCases(dir)
	if err != nil {
		return err
	}
	bt, err := interleave(bcs, max(rounds/4, 3), 1)
	if err != nil {
		return err
	}
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tp50 ms\tx 1 bind\t")
	for i, c := range bcs {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t\n", c.name, pct(slices.Clone(bt[i]), 50), ratio(bt, i, 0))
	}
	tw.Flush()

	fmt.Printf("\n## Memory\n\n")
	idle, err := idlePooled(8, "")
	if err != nil {
		return err
	}
	fmt.Println(idle)
	var idleSmall idleFigures
	if b.init != "" {
		if idleSmall, err = idlePooled(8, b.init); err != nil {
			return err
		}
		fmt.Println("with the small init (Options.Init):", idleSmall)
	}
	growth, err := hostGrowth(b, soak)
	if err != nil {
		return err
	}
	fmt.Println(growth.text)

	fmt.Printf("\n## Targets (issue 6)\n\n")
	target := func(what string, got, want float64, atMost bool) {
		ok := got <= want
		sign := "<="
		if !atMost {
			ok, sign = got >= want, ">="
		}
		verdict := "met"
		if !ok {
			verdict = "NOT met"
		}
		fmt.Printf("%-62s %6.2f  (target %s %.1f: %s)\n", what, got, sign, want, verdict)
	}
	// The floor of the re-exec design, next to the targets it bounds: no
	// cold sandbox starts faster, nor can more of them start per second.
	floor := func(what string, got float64) {
		fmt.Printf("  %-60s %6.2f  (floor of the design: no set-up at all)\n", what, got)
	}
	if i := find("corral cold, limits + seccomp"); i >= 0 && bw >= 0 {
		target("corral cold with limits and seccomp, x bwrap", ratio(times, i, bw), 1.0, true)
		if f := find(floorName); f >= 0 {
			floor("re-exec alone, x bwrap", ratio(times, f, bw))
		}
	}
	if i := find(smallInitLimitsName); i >= 0 && bw >= 0 {
		target("corral cold, limits + seccomp, small init, x bwrap", ratio(times, i, bw), 1.0, true)
	}
	if i := find(smallInitName); i >= 0 && bw >= 0 {
		target("corral cold (seccomp), small init, x bwrap", ratio(times, i, bw), 1.0, true)
		if f := find(smallFloorName); f >= 0 {
			floor("the small init re-executed alone, x bwrap", ratio(times, f, bw))
		}
	}
	if i := find("corral warm (pool)"); i >= 0 {
		target("corral warm, x exec.Command(/bin/true)", ratio(times, i, ex), 1.5, true)
	}
	if i := find("corral warm, reuse"); i >= 0 {
		target("corral warm with reuse, x exec.Command(/bin/true)", ratio(times, i, ex), 1.5, true)
	}
	if bwr := rates["bwrap --unshare-all"]; len(bwr) == 3 {
		if c := rates["corral cold (seccomp)"]; len(c) == 3 {
			target("runs/s with 2 workers, reuse off (cold), x bwrap", c[1]/bwr[1], 1.5, false)
		}
		if w := rates["corral warm (pool)"]; len(w) == 3 {
			target("runs/s with 2 workers, pool (no reuse), x bwrap", w[1]/bwr[1], 1.5, false)
		}
		if f := rates[floorName]; len(f) == 3 {
			floor("runs/s with 2 workers, re-exec alone, x bwrap", f[1]/bwr[1])
		}
		if w := rates["corral warm, reuse"]; len(w) == 3 {
			target("runs/s with 2 workers, reuse on, x bwrap", w[1]/bwr[1], 3, false)
		}
	}
	target("idle pooled sandbox, RSS MiB (shared binary pages included)", idle.rssMiB, 4, true)
	target("idle pooled sandbox, private memory (USS) MiB", idle.ussMiB, 4, true)
	if b.init != "" {
		target("idle pooled sandbox, small init, private memory (USS) MiB", idleSmall.ussMiB, 2, true)
	}
	target(fmt.Sprintf("host RSS growth over %d runs, MiB", soak), growth.mib, 1, true)
	return nil
}

// idleFigures is the memory of an idle pooled sandbox.
type idleFigures struct {
	n                      int
	rssMiB, pssMiB, ussMiB float64
}

func (f idleFigures) String() string {
	return fmt.Sprintf("idle pooled sandbox (pool of %d, mean per sandbox): RSS %.2f MiB, PSS %.2f MiB, private (USS) %.2f MiB\n"+
		"  (RSS counts the pages of the binary it shares with the host and the other sandboxes; USS is what one more costs)",
		f.n, f.rssMiB, f.pssMiB, f.ussMiB)
}

// idlePooled fills a pool of n (booted from init, or by re-exec when it is
// "") and measures its waiting inits.
func idlePooled(n int, init string) (idleFigures, error) {
	before := testutil.Children(os.Getpid())
	sb := sandbox.New(sandbox.Options{Pool: n, Init: init})
	defer sb.Close()
	if err := sb.Prewarm(context.Background()); err != nil {
		return idleFigures{}, err
	}
	time.Sleep(time.Second) // settled: the inits done with their start
	f := idleFigures{}
	for _, pid := range testutil.Children(os.Getpid()) {
		if slices.Contains(before, pid) {
			continue
		}
		f.n++
		f.rssMiB += kib(pid, "status", "VmRSS:") / 1024
		f.pssMiB += kib(pid, "smaps_rollup", "Pss:") / 1024
		f.ussMiB += (kib(pid, "smaps_rollup", "Private_Clean:") + kib(pid, "smaps_rollup", "Private_Dirty:")) / 1024
	}
	if f.n == 0 {
		return f, fmt.Errorf("no pooled init found")
	}
	f.rssMiB /= float64(f.n)
	f.pssMiB /= float64(f.n)
	f.ussMiB /= float64(f.n)
	return f, nil
}

type growthFigures struct {
	mib  float64
	text string
}

// hostGrowth runs n pooled runs with 2 workers and reports how this
// process's RSS grew, after 100 runs of warm-up.
func hostGrowth(b *bench, n int) (growthFigures, error) {
	sb := sandbox.New(sandbox.Options{Pool: 4})
	b.sandboxes = append(b.sandboxes, sb)
	r := pooledRun(sb)
	for range min(100, n) {
		if err := r(); err != nil {
			return growthFigures{}, err
		}
	}
	// Free memory goes back to the kernel first, at both ends: RSS then
	// measures what is held, not what the runtime keeps for later.
	debug.FreeOSMemory()
	before := kib(os.Getpid(), "status", "VmRSS:")
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	var next = make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	errc := make(chan error, 2)
	for range 2 {
		go func() {
			for range next {
				if err := r(); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			return growthFigures{}, err
		}
	}
	time.Sleep(100 * time.Millisecond) // the last refills and timers settle
	debug.FreeOSMemory()
	after := kib(os.Getpid(), "status", "VmRSS:")
	runtime.ReadMemStats(&m1)
	g := (after - before) / 1024
	return growthFigures{g, fmt.Sprintf("host RSS over %d pooled runs (2 workers): %.1f -> %.1f MiB (%+.2f MiB); heap in use %+.2f MiB; goroutines %d -> %d",
		n, before/1024, after/1024, g, float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/(1<<20), g0, runtime.NumGoroutine())}, nil
}

// kib reads a "Key: N kB" line of /proc/pid/file.
func kib(pid int, file, key string) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseFloat(f[0], 64)
				return v
			}
		}
	}
	return 0
}
