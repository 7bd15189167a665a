// Command bench measures how fast Corral starts sandboxes, side by side
// with the anchors of issue 6: a plain exec.Command("/bin/true") and
// bubblewrap (bwrap --unshare-all with a read-only /usr, /proc, /dev and a
// tmpfs /tmp, the isolation the anchors were measured with). `make bench`
// runs it; `-smoke` runs every part briefly, for CI (its timings mean
// nothing there).
//
// Every latency case runs once per round, round after round, in a rotating
// order, so drifts of the machine's speed hit all of them alike; ratios are
// medians of per-round ratios. Before each timed run the pools are full, so
// no background refill overlaps a measurement.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

func main() {
	sandbox.Main()
	rounds := flag.Int("rounds", 200, "rounds of the latency table")
	dur := flag.Duration("duration", 3*time.Second, "duration of each throughput and concurrency measurement")
	soak := flag.Int("soak", 10000, "runs of the host-RSS measurement")
	initPath := flag.String("init", "", "a corral-init binary for the small-init rows; empty: go build one into a temp dir")
	smoke := flag.Bool("smoke", false, "run every part briefly (CI): checks that it works, not how fast")
	flag.Parse()
	if *smoke {
		*rounds, *dur, *soak = 5, 200*time.Millisecond, 50
	}
	if err := sandbox.Check().Err(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: sandboxes cannot run here:", err)
		os.Exit(1)
	}
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: bwrap not found (make bench installs it: apt-get install -y bubblewrap); its rows are skipped")
		bwrap = ""
	}
	fmt.Printf("corral bench: %s, %d CPUs, uid %d, %s\n\n", runtime.Version(), runtime.NumCPU(), os.Getuid(), time.Now().Format(time.DateTime))

	init, cleanup := smallInit(*initPath)
	defer cleanup()
	b := newBench(bwrap, init)
	defer b.close()
	if err := b.run(*rounds, *dur, *soak); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		b.close()
		cleanup()
		os.Exit(1)
	}
}

// smallInit returns the corral-init binary of the small-init rows: path,
// or one go build makes from this module into a temp dir (make bench runs
// with the toolchain at hand), and the function that removes it. "" when
// neither works: the rows are skipped, saying why.
func smallInit(path string) (string, func()) {
	if path != "" {
		p, err := filepath.Abs(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -init:", err)
			os.Exit(2)
		}
		return p, func() {}
	}
	dir, err := os.MkdirTemp("", "corral-bench-init-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: small init:", err)
		return "", func() {}
	}
	cleanup := func() { os.RemoveAll(dir) }
	out := filepath.Join(dir, "corral-init")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", out, "github.com/corral-dev/corral/sandbox/corral-init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: go build of sandbox/corral-init: %v: %s\n", err, b)
		cleanup()
		return "", func() {}
	}
	os.Chmod(dir, 0o755)
	return out, cleanup
}
