// Command coderunner is an HTTP JSON service that runs other people's
// programs (sh, python3, C, C++, Go, JavaScript: whichever are installed)
// in Corral sandboxes, with a playground page at "/":
//
//	go run ./examples/coderunner            # http://127.0.0.1:8080/
//	curl -s localhost:8080/run -H 'Content-Type: application/json' -d '{"language":"python3","source":"print(6*7)"}'
//
// See the README, "Code runner service", for the API, flags and operations.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/backend"
	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"github.com/corral-dev/corral/examples/coderunner/service"
	"github.com/corral-dev/corral/examples/coderunner/web"
	"github.com/corral-dev/corral/sandbox"
)

// flags are the server's settings.
type flags struct {
	addr, backend, token     string
	pool, concurrency, queue int
	reuse                    bool
	maxWall, maxCPU          time.Duration
	maxMemory, maxOutput     int64 // MiB, KiB
	maxSource                int64 // KiB
	maxPids                  int
	rate                     float64
	shutdownTimeout          time.Duration
	cgroupParent             string
	init                     string
	goCache                  string
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("coderunner", flag.ContinueOnError)
	procs := runtime.GOMAXPROCS(0)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&f.backend, "backend", "corral", "backend: corral or bwrap")
	fs.IntVar(&f.pool, "pool", 2*procs, "sandboxes kept warm (corral)")
	fs.BoolVar(&f.reuse, "reuse", true, "reset and reuse sandboxes between jobs (corral; interpreted languages)")
	fs.IntVar(&f.concurrency, "concurrency", 2*procs, "jobs running at once")
	fs.IntVar(&f.queue, "queue", 64, "jobs waiting for a slot; past it requests get 429")
	fs.DurationVar(&f.maxWall, "max-wall", 10*time.Second, "most wall time a request may ask for (run step)")
	fs.DurationVar(&f.maxCPU, "max-cpu", 10*time.Second, "most CPU time a request may ask for (run step)")
	fs.Int64Var(&f.maxMemory, "max-memory", 512, "most memory a request may ask for, MiB (run step)")
	fs.IntVar(&f.maxPids, "max-pids", 128, "most processes and threads a request may ask for (run step)")
	fs.Int64Var(&f.maxOutput, "max-output", 1024, "most output a request may ask for, KiB of stdout and of stderr")
	fs.Int64Var(&f.maxSource, "max-source", 256, "most KiB of source (files together), and of stdin")
	fs.StringVar(&f.token, "token", os.Getenv("CODERUNNER_TOKEN"), "bearer token POST /run requires (default $CODERUNNER_TOKEN; empty: none)")
	fs.Float64Var(&f.rate, "rate", 0, "requests/s per client IP to POST /run, burst ceil(rate) (0: no limit)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGINT/SIGTERM, how long running jobs may finish before they are killed")
	fs.StringVar(&f.cgroupParent, "cgroup-parent", "", "cgroup for the sandboxes' cgroups (default: beneath the server's own)")
	fs.StringVar(&f.init, "init", "", "a corral-init binary for the sandboxes (sandbox.Options.Init; build it with: "+sandbox.InitBuild+"); empty: this binary re-executes itself")
	fs.StringVar(&f.goCache, "go-cache", lang.DefaultGoCacheDir(), "directory of the seeded Go build cache, made at start when missing (empty: none)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case f.maxWall <= 0, f.maxCPU <= 0, f.maxMemory <= 0, f.maxPids <= 0, f.maxOutput <= 0, f.maxSource <= 0:
		return nil, errors.New("-max-wall, -max-cpu, -max-memory, -max-pids, -max-output and -max-source must be positive")
	case f.concurrency < 1:
		return nil, errors.New("-concurrency must be at least 1")
	case f.queue < 0:
		return nil, errors.New("-queue must be at least 0")
	case f.rate < 0:
		return nil, errors.New("-rate must be 0 (off) or positive")
	}
	return f, nil
}

// limits returns the run step's defaults and maxima, and the compile
// step's limits, from the flags.
func (f *flags) limits() (defaults, maxima, compile job.Limits) {
	maxima = job.Limits{WallTime: f.maxWall, CPUTime: f.maxCPU, Memory: f.maxMemory << 20, Pids: f.maxPids, Output: f.maxOutput << 10}
	defaults = job.Limits{
		WallTime: min(5*time.Second, maxima.WallTime), CPUTime: min(2*time.Second, maxima.CPUTime),
		Memory: min(128<<20, maxima.Memory), Pids: min(32, maxima.Pids), Output: min(64<<10, maxima.Output),
	}
	// Generous: go build with an empty cache compiles the runtime.
	compile = job.Limits{WallTime: 120 * time.Second, CPUTime: 120 * time.Second, Memory: max(768<<20, maxima.Memory), Pids: 128}
	return defaults, maxima, compile
}

func main() {
	sandbox.Main()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	f, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "coderunner:", err)
		os.Exit(2)
	}
	if err := serve(f, log); err != nil {
		log.Error("exit", "error", err)
		os.Exit(1)
	}
}

// serve runs the server until SIGINT or SIGTERM, then shuts it down.
func serve(f *flags, log *slog.Logger) error {
	defaults, maxima, compile := f.limits()
	if f.goCache != "" {
		if err := os.MkdirAll(f.goCache, 0o755); err != nil {
			return fmt.Errorf("-go-cache: %w", err)
		}
	}
	langs := lang.Detect(f.goCache)
	var binds []string
	for _, l := range langs {
		log.Info("language", "name", l.Name, "version", l.Version, "compiled", l.Compile != nil)
		binds = append(binds, l.Binds...)
	}
	seedCtx, stopSeed := context.WithCancel(context.Background())
	defer stopSeed()
	if f.goCache != "" && lang.Find(langs, "go") != nil {
		go func() {
			start := time.Now()
			if err := lang.SeedGoCache(seedCtx, f.goCache); err != nil {
				log.Warn("go cache not seeded: go builds compile the standard library each time", "error", err)
				return
			}
			log.Info("go cache seeded", "dir", f.goCache, "ms", time.Since(start).Milliseconds())
		}()
	}
	cfg := backend.Config{Pool: f.pool, Reuse: f.reuse, Run: defaults, Compile: compile, CgroupParent: f.cgroupParent, Init: f.init, Binds: binds, Logger: log}
	var b job.Backend
	var err error
	switch f.backend {
	case "corral":
		b, err = backend.NewCorral(cfg)
	case "bwrap":
		b, err = backend.NewBwrap(cfg)
	default:
		err = fmt.Errorf("-backend %q: use corral or bwrap", f.backend)
	}
	if err != nil {
		return err
	}
	srv, err := service.New(service.Config{
		Backend: b, Languages: langs, Defaults: defaults, Max: maxima, Compile: compile,
		MaxSource: f.maxSource << 10, Concurrency: f.concurrency, Queue: f.queue,
		Token: f.token, Rate: f.rate, Logger: log, Web: web.Handler(),
	})
	if err != nil {
		b.Close()
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		b.Close()
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A job may wait in the queue, compile and run: the longest
		// compile plus the longest run, and room to queue.
		WriteTimeout:   compile.WallTime + maxima.WallTime + 60*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "url", "http://"+ln.Addr().String()+"/", "backend", b.Name(), "pool", f.pool,
		"reuse", f.reuse, "concurrency", f.concurrency, "queue", f.queue, "auth", f.token != "", "rate", f.rate)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String(), "timeout", f.shutdownTimeout.String())
	case err := <-served:
		b.Close()
		return err
	}
	signal.Stop(sig)
	return shutdown(hs, srv, b, f.shutdownTimeout, log)
}

// shutdown stops taking requests, lets running jobs finish within
// timeout, kills the rest, and closes the backend: no sandbox is left.
func shutdown(hs *http.Server, srv *service.Server, b job.Backend, timeout time.Duration, log *slog.Logger) error {
	srv.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Wait(ctx); err != nil {
		log.Warn("killing the jobs still running", "after", timeout.String())
	}
	// The handlers of killed jobs answer at once; give them a moment.
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer hcancel()
	if err := srv.Kill(hctx); err != nil {
		log.Warn("jobs still running after the kill", "error", err)
	}
	herr := hs.Shutdown(hctx)
	berr := b.Close()
	log.Info("stopped", "http", errString(herr), "backend", errString(berr))
	return errors.Join(herr, berr)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
