package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"sync"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"github.com/corral-dev/corral/sandbox"
)

// A compiled job runs in one sandbox.Box, in three Execs:
//
//  1. the compile step, in lang.SrcDir (where the request's files were
//     copied), writing lang.OutDir/lang.Program;
//  2. a clean-up, not a step of the answer: it kills whatever the compile
//     step left running (kill -9 -1 spares only itself and the init) and
//     removes the sources and every other file the compile step wrote
//     (/work/src, /tmp, /dev/shm), so that
//  3. the run step, in lang.OutDir, finds only what the compile step
//     produced: the program.
//
// Removing rather than copying the program into a second sandbox keeps
// both steps in one sandbox (one boot, one cgroup), as the issue asks.
//
// A Box's Memory and Pids limits are fixed when it boots and bound all its
// commands together: a Box gets the larger of the two steps' (the compile
// step's, as a rule), and the run step's own, smaller, memory, CPU time and
// processes (counted, not its threads) are enforced here by watching
// Box.Stats every watchEvery and killing the step once what the Box uses
// has grown past them since the step started (overLimit): soft limits,
// which a bomb may overshoot by what it grabs in that time, the Box's
// cgroup staying the hard bound. Wall time is each Exec's context, output the capped
// writers.

// watchEvery is how often a step's CPU time and memory are checked.
const watchEvery = 10 * time.Millisecond

// Causes of a step's end that are its limits.
var (
	errWall   = errors.New("wall time limit")
	errCPU    = errors.New("cpu time limit")
	errMemory = errors.New("memory limit")
	errPids   = errors.New("pids limit")
)

// cleanup is the clean-up command between the steps.
var cleanup = []string{"/bin/sh", "-c",
	"kill -9 -1 2>/dev/null; cd / && rm -rf " + lang.SrcDir + " /tmp/* /tmp/.[!.]* /dev/shm/* /dev/shm/.[!.]* 2>/dev/null; exit 0"}

// boxOptions are the options of a Box for a job with these limits.
func (b *corral) boxOptions(compile, run job.Limits) sandbox.Options {
	opts := b.base
	k := boxKey(compile, run)
	opts.Limits = sandbox.Limits{Memory: k[0], Pids: k[1]}
	return opts
}

// runCompiled runs j's compile and run steps in one Box.
func (b *corral) runCompiled(ctx context.Context, j *job.Job) (*job.Outcome, error) {
	x, err := b.box(ctx, j)
	if err != nil {
		return nil, fmt.Errorf("backend: corral: box: %w", err)
	}
	defer func() { // off the answer's path; Close waits for it
		b.wg.Add(1)
		go func() { defer b.wg.Done(); x.Stop() }()
	}()
	tarball, err := tarFiles("src/", j.Files, "out")
	if err != nil {
		return nil, fmt.Errorf("backend: corral: files: %w", err)
	}
	if err := x.CopyIn(ctx, "", bytes.NewReader(tarball)); err != nil {
		return nil, fmt.Errorf("backend: corral: copying the files in: %w", err)
	}
	l := j.Language
	compile, err := b.exec(ctx, x, &sandbox.Cmd{Path: l.Compile[0], Args: l.Compile, Env: l.Env, Dir: lang.SrcDir}, j.Compile, nil)
	if err != nil {
		return nil, err
	}
	out := &job.Outcome{Compile: compile}
	if !compile.Success() {
		return out, nil
	}
	clean, err := b.exec(ctx, x, &sandbox.Cmd{Path: cleanup[0], Args: cleanup, Dir: "/"}, job.Limits{WallTime: 10 * time.Second, Output: 4096}, nil)
	if err != nil {
		return nil, err
	}
	if !clean.Success() {
		return nil, fmt.Errorf("backend: corral: clean-up after the compile step: %s %s", clean.Stderr, clean.Limit)
	}
	out.Run, err = b.exec(ctx, x, &sandbox.Cmd{Path: l.Run[0], Args: l.Run, Env: l.Env, Dir: lang.OutDir}, j.Run, j.Stdin)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// box returns a Box for j: a booted one from the pool when the Box j
// needs is the pool's (its Memory and Pids, all boxOptions takes from the
// limits; the steps' other limits are each Exec's), else a new one.
func (b *corral) box(ctx context.Context, j *job.Job) (*sandbox.Box, error) {
	if boxKey(j.Compile, j.Run) == boxKey(b.cfg.Compile, b.cfg.Run) {
		if x := b.boxes.take(); x != nil {
			b.pooled.Add(1)
			return x, nil
		}
		return b.boxes.sb.Start(b.ctx)
	}
	return sandbox.New(b.boxOptions(j.Compile, j.Run)).Start(b.ctx)
}

// boxKey is what of a job's limits its Box's options depend on.
func boxKey(compile, run job.Limits) [2]int64 {
	return [2]int64{max(compile.Memory, run.Memory), int64(max(compile.Pids, run.Pids))}
}

// overLimit returns the limit of l a step has gone past, judging by the
// Box's stats when it started (before) and now: what the Box has grown by
// since, as what it held before (the init's, files, page cache) is not
// the step's. Nil when within them.
func overLimit(l job.Limits, before, now sandbox.Stats) error {
	switch {
	case l.CPUTime > 0 && now.CPUTime-before.CPUTime > l.CPUTime:
		return errCPU
	case l.Memory > 0 && now.Memory-max(before.Memory, 0) > l.Memory:
		return errMemory
	case l.Pids > 0 && now.Processes-before.Processes > l.Pids:
		return errPids
	}
	return nil
}

// exec runs one step in x under l, and describes it. The error is the
// backend's failure, not the program's.
func (b *corral) exec(ctx context.Context, x *sandbox.Box, cmd *sandbox.Cmd, l job.Limits, stdin []byte) (*job.Step, error) {
	before, statsErr := x.Stats()
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if l.WallTime > 0 {
		var stop context.CancelFunc
		sctx, stop = context.WithTimeoutCause(sctx, l.WallTime, errWall)
		defer stop()
	}
	stdout := &capped{max: l.Output, over: func() { cancel(errOutput) }}
	stderr := &capped{max: l.Output, over: func() { cancel(errOutput) }}
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	p, err := x.ExecContext(sctx, cmd)
	if err != nil && context.Cause(sctx) == errOutput {
		return floodedAtStart(stdout, stderr), nil
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) { // no program: say so as a step
			return &job.Step{ExitCode: 127, Stderr: []byte(err.Error() + "\n")}, nil
		}
		return nil, fmt.Errorf("backend: corral: exec %s: %w", cmd.Path, err)
	}
	done := make(chan struct{})
	var watcher sync.WaitGroup
	if statsErr == nil && (l.CPUTime > 0 || l.Memory > 0 || l.Pids > 0) {
		watcher.Add(1)
		go func() {
			defer watcher.Done()
			t := time.NewTicker(watchEvery)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
				}
				st, err := x.Stats()
				if err != nil {
					return
				}
				if err := overLimit(l, before, st); err != nil {
					cancel(err)
				}
			}
		}()
	}
	res, werr := p.Wait()
	close(done)
	watcher.Wait()
	if res == nil {
		return nil, fmt.Errorf("backend: corral: %s: %w", cmd.Path, werr)
	}
	// The library fills Result.OOMKilled, PidsLimitHit and Limit from the
	// Box's cgroup counters over the command's life: stepOf takes them.
	s := stepOf(res, stdout, stderr)
	if after, err := x.Stats(); err == nil && statsErr == nil {
		s.CPUTime = after.CPUTime - before.CPUTime
	}
	switch cause := context.Cause(sctx); {
	case cause == errWall:
		s.Limit = job.LimitWallTime
	case cause == errCPU:
		s.Limit = job.LimitCPUTime
	case cause == errMemory:
		s.Limit = job.LimitMemory
	case cause == errPids:
		s.Limit = job.LimitPids
	case cause == errOutput:
		s.Limit = job.LimitOutput
	case cause != nil:
		return nil, fmt.Errorf("backend: corral: %s: %w", cmd.Path, cause)
	case werr != nil && !errors.Is(werr, exec.ErrWaitDelay):
		return nil, fmt.Errorf("backend: corral: %s: %w", cmd.Path, werr)
	}
	return s, nil
}
