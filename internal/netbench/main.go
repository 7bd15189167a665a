// Command netbench measures Corral's egress network (sandbox.NetworkEgress
// with a sandbox/egress Policy) side by side with the host's own loopback
// and the user-mode networks rootless containers use, slirp4netns and
// pasta, in one run: bulk TCP throughput (one HTTP download) and the
// latency of a small HTTP request on a new connection. Every environment
// runs the same client, this binary in its client mode, against one test
// server on the host's loopback.
//
//	go run ./internal/netbench [-bytes 1073741824] [-rounds 3] [-rr 300] [-envs host,corral,slirp4netns,pasta]
//
// make bench-net runs it. The target: at least 2 Gbit/s of bulk
// TCP through Corral's egress network on the 2-core machine.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// environment is one network the client runs behind.
type environment struct {
	name string
	tool string // the program it needs, "" for none
	run  func(ctx context.Context, port int, mode string, n int64) ([]byte, error)
}

var environments = []environment{
	{"host loopback", "", hostLoopback},
	{"corral egress", "", corralEgress},
	{"slirp4netns", "slirp4netns", slirp4netns(65520)},
	{"slirp4netns, MTU 1500", "slirp4netns", slirp4netns(1500)},
	{"pasta", "pasta", pasta},
}

func main() {
	sandbox.Main()
	mode := flag.String("client", "", "run as the client: bulk or rr (used by the benchmark itself)")
	url := flag.String("url", "", "client: the server's base URL")
	n := flag.Int64("n", 0, "client: bytes to download (bulk) or requests to make (rr)")
	wait := flag.Bool("wait", false, "client: wait for a line on stdin first")
	bytes := flag.Int64("bytes", 1<<30, "bytes of each bulk download")
	rounds := flag.Int("rounds", 3, "bulk downloads per environment (the median is reported)")
	rr := flag.Int64("rr", 300, "small requests per environment")
	envs := flag.String("envs", "host,corral,slirp4netns,pasta", "environments to measure, by first word")
	flag.Parse()
	if *mode != "" {
		if *wait {
			bufio.NewReader(os.Stdin).ReadString('\n')
		}
		if err := client(*mode, *url, *n); err != nil {
			fmt.Fprintln(os.Stderr, "netbench client:", err)
			os.Exit(1)
		}
		return
	}
	if err := bench(*bytes, *rounds, *rr, strings.Split(*envs, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
}

// row is one environment's figures.
type row struct {
	name     string
	gbps     float64 // median of the bulk rounds
	p50, p99 float64 // small requests, µs
	err      error
}

func bench(size int64, rounds int, rr int64, want []string) error {
	port, stop, err := serve()
	if err != nil {
		return err
	}
	defer stop()
	defer func() {
		for _, f := range cleanups {
			f()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	fmt.Printf("netbench: %d rounds of %d MiB bulk, %d small requests each; %s\n\n", rounds, size>>20, rr, time.Now().UTC().Format(time.DateTime))
	var rows []row
	for _, e := range environments {
		if !slices.Contains(want, strings.TrimSuffix(strings.Fields(e.name)[0], ",")) {
			continue
		}
		if e.tool != "" {
			if _, err := exec.LookPath(e.tool); err != nil {
				fmt.Printf("%s: not installed (make deps installs it); skipped\n", e.name)
				continue
			}
		}
		r := row{name: e.name}
		var speeds []float64
		for range rounds {
			var res clientResult
			if res, r.err = runClient(ctx, e, port, "bulk", size); r.err != nil {
				break
			}
			speeds = append(speeds, float64(res.Bytes)*8/res.Seconds/1e9)
		}
		if r.err == nil {
			slices.Sort(speeds)
			r.gbps = speeds[len(speeds)/2]
			var res clientResult
			if res, r.err = runClient(ctx, e, port, "rr", rr); r.err == nil {
				r.p50, r.p99 = res.P50, res.P99
			}
		}
		rows = append(rows, r)
	}
	report(rows)
	for _, r := range rows {
		if r.err != nil {
			return fmt.Errorf("%s failed: %w", r.name, r.err)
		}
	}
	return nil
}

// runClient runs the client behind e and decodes what it printed.
func runClient(ctx context.Context, e environment, port int, mode string, n int64) (clientResult, error) {
	var res clientResult
	out, err := e.run(ctx, port, mode, n)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("%s: the client printed %q: %w", e.name, out, err)
	}
	return res, nil
}

// report prints the table, the ratios and the target.
func report(rows []row) {
	find := func(name string) *row {
		for i := range rows {
			if rows[i].name == name && rows[i].err == nil {
				return &rows[i]
			}
		}
		return nil
	}
	host, slirp, me := find("host loopback"), find("slirp4netns"), find("corral egress")
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "network\tbulk Gbit/s\tx host\tx slirp4netns\tsmall request p50 µs\tp99 µs\tadded p50 µs\t")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\tfailed: %v\t\t\t\t\t\t\n", r.name, r.err)
			continue
		}
		ratio := func(o *row) string {
			if o == nil {
				return "-"
			}
			return fmt.Sprintf("%.2f", r.gbps/o.gbps)
		}
		added := "-"
		if host != nil {
			added = fmt.Sprintf("%.0f", r.p50-host.p50)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%.0f\t%.0f\t%s\t\n", r.name, r.gbps, ratio(host), ratio(slirp), r.p50, r.p99, added)
	}
	tw.Flush()
	if me != nil {
		verdict := "met"
		if me.gbps < 2 {
			verdict = "NOT met"
		}
		fmt.Printf("\ncorral egress bulk TCP: %.2f Gbit/s (target >= 2: %s)\n", me.gbps, verdict)
	}
}
