package main

// The report: one table per mode, the backends side by side, and the
// ratios of each Corral configuration to bwrap.

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

func report(out io.Writer, c *config, mode string, rs []*result) {
	title, d := "python3 hello world", c.duration
	if mode == "mixed" {
		title, d = "mixed: normal programs in every language, compile errors, bombs", c.mixedDur
	}
	fmt.Fprintf(out, "\n== %s: %d clients, %v per backend (after %v of warm-up)\n", title, c.clients, d, c.warmup)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\treq/s\tp50\tp99\tanswered\tright\twrong\t429\terrors\tcut\thealthy\tleftovers\t")
	for _, r := range rs {
		right := len(r.Latencies) - r.Wrong
		h := "yes"
		if r.Unhealthy != "" {
			h = "NO"
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t\n", r.Backend, r.Throughput,
			ms(percentile(r.Latencies, 50)), ms(percentile(r.Latencies, 99)),
			len(r.Latencies), right, r.Wrong, r.Saturated, r.Errors, r.Cut, h, len(r.Leftovers))
	}
	tw.Flush()
	if mode == "mixed" {
		for _, r := range rs {
			fmt.Fprintf(out, "\n%s: outcomes %s\n", r.Backend, outcomes(r.Outcomes))
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "program\tkind\tsent\tright\twrong\t429\terrors\t")
			names := make([]string, 0, len(r.ByProgram))
			for n := range r.ByProgram {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				x := r.ByProgram[n]
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", n, x.Kind, x.Sent, x.Right, x.Wrong, x.Saturated, x.OtherError)
			}
			tw.Flush()
		}
	}
	for _, r := range rs {
		for _, f := range r.Failures {
			fmt.Fprintf(out, "%s: FAILED: %s\n", r.Backend, f)
		}
		if r.Unhealthy != "" {
			fmt.Fprintf(out, "%s: UNHEALTHY after the run: %s\n", r.Backend, r.Unhealthy)
		}
		if len(r.Leftovers) > 0 {
			fmt.Fprintf(out, "%s: LEAK: sandbox processes outlived the server: pids %v\n", r.Backend, r.Leftovers)
		}
	}
	var bw *result
	for _, r := range rs {
		if r.Backend == "bwrap" {
			bw = r
		}
	}
	if bw == nil || bw.Throughput == 0 {
		return
	}
	for _, r := range rs {
		if r == bw {
			continue
		}
		b, _ := findBackend(r.Backend)
		fmt.Fprintf(out, "%s vs bwrap: %.2fx the requests/s, p50 %.2fx, p99 %.2fx (latency: lower is better)\n", b.Label,
			r.Throughput/bw.Throughput, ratio(percentile(r.Latencies, 50), percentile(bw.Latencies, 50)),
			ratio(percentile(r.Latencies, 99), percentile(bw.Latencies, 99)))
	}
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
}

func outcomes(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
