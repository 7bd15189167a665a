// Loadgen drives the code runner (examples/coderunner) over HTTP on
// loopback with many concurrent clients for a bounded time, checks every
// answer, and reports requests/s, p50 and p99 latency and outcome counts,
// for each backend side by side with the ratios.
//
// Usage:
//
//	go run ./examples/coderunner/loadgen [flags]
//
// By default it builds the server (go build ./examples/coderunner) and, for
// each backend (corral with sandbox reuse, corral with fresh sandboxes,
// bwrap), starts it on a free loopback port, waits for /readyz, warms it up,
// drives it, checks it is still healthy, stops it and checks no sandbox
// process outlived it. With -addr it drives a server already running.
//
// Modes: hello (python3 hello world only: the targets), mixed
// (normal programs in every language GET /languages offers, each checked
// for its exact stdout; compile errors; and bombs: memory, fork, CPU,
// output, sleep, each checked for the limit that must end it), or both.
//
// Each client sends a request, waits for the answer and sends the next. A
// 429 (the server's queue is full) is counted as "saturated" and the same
// request is sent again after Retry-After; the latency counted is that of
// the answered attempt. The server's queue is made as long as the clients
// are many (-queue), so that 429s are the exception. Requests under way
// when the time is up are abandoned and counted as "cut"; requests/s is
// the answers within the time over the time (with -drain, they are waited
// for, and the time is until the last answer).
//
// The exit status is 1 when any answer was wrong, any request failed, a
// server was unhealthy after its run, or a sandbox process outlived it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	clients    int
	duration   time.Duration
	mixedDur   time.Duration
	warmup     time.Duration
	mode       string
	backends   []backend
	addr       string
	bin        string
	queue      int
	goCache    string
	drain      bool
	languages  []string // the mixed mode's; nil: every one offered
	serverArgs []string
}

func parseFlags(args []string, errOut io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.IntVar(&c.clients, "clients", 200, "concurrent clients")
	fs.DurationVar(&c.duration, "duration", 15*time.Second, "how long each run sends requests")
	fs.DurationVar(&c.mixedDur, "mixed-duration", 30*time.Second, "how long each run of the mixed mode sends requests (its requests take seconds each)")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "load sent before each run, not counted")
	fs.StringVar(&c.mode, "mode", "both", "hello (python3 hello world), mixed, or both")
	bs := fs.String("backends", "corral,corral-fresh,bwrap", "backends to compare, comma-separated")
	fs.StringVar(&c.addr, "addr", "", "drive the server at this address (host:port) instead of starting one")
	fs.StringVar(&c.bin, "server", "", "the code runner binary to start (default: go build ./examples/coderunner)")
	fs.IntVar(&c.queue, "queue", 0, "the server's -queue (default: -clients)")
	fs.StringVar(&c.goCache, "go-cache", "", "the server's -go-cache (default: a directory in $TMPDIR kept between runs)")
	fs.BoolVar(&c.drain, "drain", false, "wait for the requests under way when the time is up (default: abandon them)")
	ls := fs.String("languages", "", "the mixed mode's languages, comma-separated (default: every one the server offers)")
	sa := fs.String("server-args", "", "more flags for the server, space-separated")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.clients < 1:
		return nil, errors.New("-clients must be at least 1")
	case c.duration <= 0, c.mixedDur <= 0:
		return nil, errors.New("-duration and -mixed-duration must be positive")
	case c.warmup < 0:
		return nil, errors.New("-warmup must not be negative")
	case c.mode != "hello" && c.mode != "mixed" && c.mode != "both":
		return nil, fmt.Errorf("-mode %q: use hello, mixed or both", c.mode)
	}
	if c.queue == 0 {
		c.queue = c.clients
	}
	for _, name := range strings.Split(*bs, ",") {
		b, err := findBackend(strings.TrimSpace(name))
		if err != nil {
			return nil, fmt.Errorf("-backends: %w", err)
		}
		c.backends = append(c.backends, b)
	}
	if c.addr != "" {
		c.backends = []backend{{Name: "server", Label: "the server at " + c.addr}}
	}
	c.serverArgs = strings.Fields(*sa)
	if *ls != "" {
		c.languages = strings.Split(*ls, ",")
	}
	return c, nil
}

func main() {
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ok, err := run(context.Background(), c, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "loadgen: FAILED: see above")
		os.Exit(1)
	}
}

// run runs every mode against every backend and prints the reports. It
// reports whether every answer was right and every server healthy.
func run(ctx context.Context, c *config, out io.Writer) (bool, error) {
	tmp, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if c.addr == "" && c.bin == "" {
		if c.bin, err = buildServer(ctx, tmp); err != nil {
			return false, err
		}
	}
	if c.addr == "" && c.goCache == "" && (c.languages == nil || containsString(c.languages, "go")) {
		// Kept between runs (seeding it is a cold go build), where every
		// user may enter: a root server runs bwrap as nobody, which binds
		// it by its path.
		c.goCache = filepath.Join(os.TempDir(), "coderunner-loadgen-gocache")
		if err := os.MkdirAll(c.goCache, 0o755); err != nil {
			return false, err
		}
		os.Chmod(c.goCache, 0o755)
	}
	modes := []string{c.mode}
	if c.mode == "both" {
		modes = []string{"hello", "mixed"}
	}
	ok := true
	for _, mode := range modes {
		var results []*result
		for _, b := range c.backends {
			r, err := runOne(ctx, c, tmp, mode, b)
			if err != nil {
				return false, fmt.Errorf("%s, %s: %w", mode, b.Name, err)
			}
			results = append(results, r)
			ok = ok && r.passed()
		}
		report(out, c, mode, results)
	}
	return ok, nil
}

// runOne starts the server for b (unless -addr), warms it up, drives it
// in mode, checks it and stops it.
func runOne(ctx context.Context, c *config, tmp, mode string, b backend) (*result, error) {
	base := "http://" + c.addr
	var srv *server
	if c.addr == "" {
		// The hello mode's servers seed no Go cache: a go build alongside
		// would take CPU from the measurement.
		cache := c.goCache
		if mode != "mixed" {
			cache = ""
		}
		args := append(append([]string{"-queue", strconv.Itoa(c.queue), "-go-cache=" + cache}, b.Args...), c.serverArgs...)
		var err error
		if srv, err = startServer(c.bin, tmp, args); err != nil {
			return nil, err
		}
		if mode == "mixed" && c.goCache != "" && (c.languages == nil || containsString(c.languages, "go")) {
			// A go build before the cache is seeded compiles the standard
			// library: wait for it.
			if err := srv.waitLog(3*time.Minute, "go cache seeded", "go cache not seeded"); err != nil {
				return nil, err
			}
		}
		defer srv.stop()
		base = srv.base
	}
	offered, err := languages(base)
	if err != nil {
		return nil, err
	}
	marker := strconv.FormatUint(rand.Uint64()%1_000_000_000, 10)
	ps := []program{helloProgram}
	if mode == "mixed" {
		langs := offered
		if c.languages != nil {
			langs = nil
			for _, l := range c.languages {
				if !containsString(offered, l) {
					return nil, fmt.Errorf("-languages: the server does not offer %q (it offers %v)", l, offered)
				}
				langs = append(langs, l)
			}
		}
		ps = programs(langs, marker)
	} else if !containsString(offered, "python3") {
		return nil, errors.New("the server does not offer python3")
	}
	if c.warmup > 0 {
		newDriver(base, ps, c.clients, c.warmup).run(ctx)
	}
	dur := c.duration
	if mode == "mixed" {
		dur = c.mixedDur
	}
	d := newDriver(base, ps, c.clients, dur)
	d.drain = c.drain
	r := d.run(ctx)
	r.Backend = b.Name
	r.Unhealthy = healthy(base, offered)
	if srv != nil {
		if err := srv.stop(); err != nil && r.Unhealthy == "" {
			r.Unhealthy = err.Error()
		}
	}
	r.Leftovers = leftovers(marker)
	return r, nil
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// passed reports whether the run found nothing wrong.
func (r *result) passed() bool {
	return r.Wrong == 0 && r.Errors == 0 && r.Unhealthy == "" && len(r.Leftovers) == 0 && len(r.Latencies) > 0
}
