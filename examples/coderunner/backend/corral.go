package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"github.com/corral-dev/corral/sandbox"
)

// corral is the Corral backend. A language without a compile step runs
// as one sandbox.Sandbox.Run, from a warm pool (sandbox.Options Pool, and
// Reuse when asked) for jobs with the default limits. A compiled language
// runs in a sandbox.Box: its sources are copied in, the compile step and
// then the run step are Exec'd into it, and it is stopped; Boxes for the
// default limits are booted ahead of time (boxPool). See box.go.
type corral struct {
	cfg    Config
	base   sandbox.Options
	warm   *sandbox.Sandbox // the pool for interpreted jobs with cfg.Run
	boxes  *boxPool         // Boxes booted for compiled jobs with the defaults
	ctx    context.Context  // ends with Close: every sandbox's bound
	cancel context.CancelFunc
	ready  atomic.Bool
	pooled atomic.Int64 // Boxes taken from the pool, for tests
	// wg counts Prewarm, the jobs running and the Boxes they stop in
	// the background; mu orders a job's wg.Add before Close's wg.Wait.
	wg       sync.WaitGroup
	mu       sync.RWMutex
	isClosed bool
	closed   sync.Once
	err      error
}

// NewCorral returns the Corral backend. It starts filling its pools at
// once; Ready reports when they are full. A pool that fails to fill (the
// host short of memory or cgroups for a while) is logged and tried again,
// backing off, until it fills or the backend is closed.
func NewCorral(cfg Config) (job.Backend, error) {
	return newCorral(cfg, nil)
}

// Backoff of the retries of a pool that failed to fill.
const (
	prewarmFirstRetry = 100 * time.Millisecond
	prewarmMaxRetry   = 30 * time.Second
)

// newCorral is NewCorral, with prewarm in place of the interpreted pool's
// Prewarm when not nil (for tests).
func newCorral(cfg Config, prewarm func(context.Context) error) (job.Backend, error) {
	if err := sandbox.Check().Err(); err != nil {
		return nil, fmt.Errorf("backend: corral: %w", err)
	}
	if cfg.Pool < 0 || cfg.Pool > sandbox.MaxPool {
		return nil, fmt.Errorf("backend: corral: pool %d out of range 0..%d", cfg.Pool, sandbox.MaxPool)
	}
	b := &corral{cfg: cfg, base: sandbox.Options{CgroupParent: cfg.CgroupParent, Init: cfg.Init}}
	for _, p := range cfg.Binds {
		b.base.Mounts = append(b.base.Mounts, sandbox.Bind(p, p))
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	opts := b.runOptions(cfg.Run)
	opts.Pool, opts.Reuse = cfg.Pool, cfg.Reuse && cfg.Pool > 0
	b.warm = sandbox.New(opts)
	nbox := max(1, cfg.Pool/2)
	if cfg.Pool == 0 {
		nbox = 0
	}
	b.boxes = newBoxPool(b.ctx, sandbox.New(b.boxOptions(cfg.Compile, cfg.Run)), nbox, &b.wg)
	if prewarm == nil {
		prewarm = b.warm.Prewarm
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for wait := prewarmFirstRetry; ; wait = min(2*wait, prewarmMaxRetry) {
			err := prewarm(b.ctx)
			if err == nil {
				break
			}
			if b.ctx.Err() != nil {
				return
			}
			log.Warn("backend: corral: the warm pool did not fill; trying again", "error", err, "in", wait.String())
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if b.boxes.wait(b.ctx) {
			b.ready.Store(true)
		}
	}()
	return b, nil
}

func (b *corral) Name() string { return "corral" }

// Ready reports whether both pools have been full once.
func (b *corral) Ready() bool { return b.ready.Load() }

// PoolReady returns how many Boxes wait for compiled jobs (the
// interpreted pool's count is the library's own and not exposed).
func (b *corral) PoolReady() int { return b.boxes.len() }

// Close ends the pools and every Box, and waits for their teardown.
func (b *corral) Close() error {
	b.closed.Do(func() {
		b.mu.Lock()
		b.isClosed = true
		b.mu.Unlock()
		b.cancel()
		b.boxes.close()
		b.wg.Wait()
		b.err = b.warm.Close()
	})
	return b.err
}

// runOptions are the options of a sandbox that runs one interpreted job
// under l.
func (b *corral) runOptions(l job.Limits) sandbox.Options {
	opts := b.base
	opts.Limits = sandbox.Limits{Memory: l.Memory, Pids: int64(l.Pids), Time: l.WallTime, CPUTime: l.CPUTime}
	return opts
}

// Run runs j: in one sandbox.Run when its language has no compile step,
// else in a Box (box.go).
func (b *corral) Run(ctx context.Context, j *job.Job) (*job.Outcome, error) {
	if j.Language == nil || len(j.Language.Run) == 0 {
		return nil, errors.New("backend: corral: job without a language")
	}
	b.mu.RLock()
	if b.isClosed {
		b.mu.RUnlock()
		return nil, errors.New("backend: corral: closed")
	}
	b.wg.Add(1)
	b.mu.RUnlock()
	defer b.wg.Done()
	// Close kills what still runs.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	unhook := context.AfterFunc(b.ctx, stop)
	defer unhook()
	if j.Language.Compile != nil {
		return b.runCompiled(ctx, j)
	}
	step, err := b.runInterpreted(ctx, j)
	if err != nil {
		return nil, err
	}
	return &job.Outcome{Run: step}, nil
}

// runInterpreted runs j's one step in a sandbox of its own: a warm one
// when j has the default limits.
func (b *corral) runInterpreted(ctx context.Context, j *job.Job) (*job.Step, error) {
	sb := b.warm
	if j.Run != b.cfg.Run {
		sb = sandbox.New(b.runOptions(j.Run)) // no pool: nothing to close
	}
	tarball, err := tarFiles("", j.Files)
	if err != nil {
		return nil, fmt.Errorf("backend: corral: files: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stdout := &capped{max: j.Run.Output, over: func() { cancel(errOutput) }}
	stderr := &capped{max: j.Run.Output, over: func() { cancel(errOutput) }}
	l := j.Language
	cmd := sandbox.Command(l.Run[0], l.Run[1:]...)
	cmd.Env = l.Env
	cmd.Dir = lang.RunDir
	cmd.Stdin = bytes.NewReader(j.Stdin)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.CopyIn = bytes.NewReader(tarball)
	p, err := sb.RunContext(ctx, cmd)
	if err != nil && context.Cause(ctx) == errOutput {
		return floodedAtStart(stdout, stderr), nil
	}
	if err != nil {
		var se *sandbox.SetupError
		if errors.As(err, &se) && errors.Is(err, syscall.ENOSPC) {
			return nil, fmt.Errorf("backend: corral: the files do not fit the work dir: %w", err)
		}
		return nil, fmt.Errorf("backend: corral: %w", err)
	}
	res, werr := p.Wait()
	if res == nil {
		return nil, fmt.Errorf("backend: corral: %w", werr)
	}
	s := stepOf(res, stdout, stderr)
	if werr != nil {
		if context.Cause(ctx) == errOutput {
			s.Limit = job.LimitOutput
		} else {
			return nil, fmt.Errorf("backend: corral: %w", werr)
		}
	}
	return s, nil
}

// limitNames maps sandbox.Result.Limit to job.Step.Limit.
var limitNames = map[string]string{
	sandbox.LimitTime:    job.LimitWallTime,
	sandbox.LimitCPUTime: job.LimitCPUTime,
	sandbox.LimitMemory:  job.LimitMemory,
	sandbox.LimitPids:    job.LimitPids,
	sandbox.LimitOutput:  job.LimitOutput,
}

// stepOf describes a step from the sandbox's Result and its output.
func stepOf(res *sandbox.Result, stdout, stderr *capped) *job.Step {
	s := &job.Step{
		ExitCode:   res.ExitCode,
		Limit:      limitNames[res.Limit],
		OOMKilled:  res.OOMKilled,
		WallTime:   res.Wall,
		CPUTime:    res.CPUTime,
		MemoryPeak: res.MemoryPeak,
	}
	if res.Signal != 0 {
		s.Signal = res.Signal.String()
	}
	s.Stdout, s.StdoutTruncated = stdout.bytes()
	s.Stderr, s.StderrTruncated = stderr.bytes()
	if s.OOMKilled && s.Limit == "" {
		s.Limit = job.LimitMemory
	}
	// A stream cut at its cap is the output limit, whether or not the
	// kill it set off came before the command ended by itself.
	if s.Limit == "" && (s.StdoutTruncated || s.StderrTruncated) {
		s.Limit = job.LimitOutput
	}
	return s
}
