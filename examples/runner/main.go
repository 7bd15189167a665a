// Command runner is a small code runner, the kind judges, playgrounds and
// AI agents use: it reads shell programs, one per line, from stdin (or the
// files named as arguments), runs each in a sandbox under limits and prints
// one JSON result per program. Its sandboxes come from a warm pool and are
// reused between programs (sandbox.Options Pool and Reuse), so a program
// costs little more than its own exec.
//
//	printf 'echo hi\nls /tmp; touch /tmp/x\nsleep 5\n' | runner -time 1s
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// result is what runner prints for each program.
type result struct {
	Program  string  `json:"program"`
	ExitCode int     `json:"exit_code"`
	Signal   string  `json:"signal,omitempty"`
	Limit    string  `json:"limit,omitempty"`
	Stdout   string  `json:"stdout"`
	Stderr   string  `json:"stderr,omitempty"`
	WallMS   float64 `json:"wall_ms"`
	Warm     bool    `json:"warm"`
	Error    string  `json:"error,omitempty"`
}

func main() {
	sandbox.Main()
	pool := flag.Int("pool", 2, "sandboxes kept ready")
	limit := flag.Duration("time", 2*time.Second, "wall-clock limit per program")
	memory := flag.Int64("memory", 128<<20, "memory limit per program, bytes (0: none)")
	output := flag.Int64("output", 64<<10, "output limit per program, bytes")
	flag.Parse()

	opts := sandbox.Options{
		Pool: *pool, Reuse: true,
		Limits: sandbox.Limits{Time: *limit, Output: *output, Memory: *memory, Pids: 64},
		// Without a usable cgroup (rootless on cgroup v1, say) the memory
		// and pids limits fall back to rlimits, and the result says so.
		Degrade: true,
	}
	sb := sandbox.New(opts)
	ctx := context.Background()
	if err := sb.Prewarm(ctx); err != nil {
		sb.Close()
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	for program := range programs(flag.Args()) {
		enc.Encode(run(ctx, sb, program))
	}
	// Close ends the pool and waits for the last sandboxes to be torn
	// down; skipping it (os.Exit) would leave their cgroups to the next
	// host's clean-up.
	if err := sb.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}

// run runs one program and describes how it went.
func run(ctx context.Context, sb *sandbox.Sandbox, program string) result {
	r := result{Program: program}
	var stdout, stderr bytes.Buffer
	cmd := sandbox.Command("/bin/sh", "-c", program)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	p, err := sb.RunContext(ctx, cmd)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	res, err := p.Wait()
	if err != nil {
		r.Error = err.Error()
	}
	r.ExitCode, r.Signal, r.Limit = res.ExitCode, res.SignalName(), res.Limit
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	r.WallMS = float64(res.Wall.Microseconds()) / 1000
	r.Warm = res.Warm
	return r
}

// programs yields the lines of stdin, or of the named files.
func programs(files []string) func(func(string) bool) {
	return func(yield func(string) bool) {
		var readers []io.Reader
		if len(files) == 0 {
			readers = append(readers, os.Stdin)
		}
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintln(os.Stderr, "runner:", err)
				os.Exit(1)
			}
			defer f.Close()
			readers = append(readers, f)
		}
		sc := bufio.NewScanner(io.MultiReader(readers...))
		for sc.Scan() {
			if line := sc.Text(); line != "" && !yield(line) {
				return
			}
		}
	}
}
