package sandbox

// A Box: one sandbox that outlives its commands (Start, Exec, Stop).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/corral-dev/corral/internal/cgroup"
)

// ErrBoxDone is matched (with errors.Is) by the error of an Exec, Stats or
// Wait that finds its Box ended. The error also wraps why the Box ended
// (Box.Err).
var ErrBoxDone = errors.New("sandbox: the box has ended")

// ErrBoxStopped is Box.Err after Stop ended the Box.
var ErrBoxStopped = errors.New("sandbox: the box was stopped")

// LimitError is Box.Err when a box-wide limit ended the Box: Limit is
// LimitTime (Limits.Time) or LimitCPUTime (Limits.CPUTime).
type LimitError struct {
	Limit string
}

func (e *LimitError) Error() string {
	field := map[string]string{LimitTime: "Time", LimitCPUTime: "CPUTime"}[e.Limit]
	return fmt.Sprintf("sandbox: the box reached its %s limit (Options.Limits.%s)", e.Limit, field)
}

// boxDoneError is the error of what finds its Box ended: it matches
// ErrBoxDone and wraps why the Box ended.
type boxDoneError struct{ cause error }

func (e *boxDoneError) Error() string {
	return ErrBoxDone.Error() + ": " + strings.TrimPrefix(e.cause.Error(), "sandbox: ")
}

func (e *boxDoneError) Is(target error) bool { return target == ErrBoxDone }
func (e *boxDoneError) Unwrap() error        { return e.cause }

// A Box is one sandbox that outlives its commands, like a container that
// commands are run in with docker exec: Start boots it, Exec runs a
// command in it (any number, several at once), Stop ends it. Its commands
// share its filesystem (what one writes in /work or /tmp the next reads),
// its pid namespace (one sees and may signal what another started), its
// network namespace, and its limits: Limits.Memory, Pids and CPUs bound
// all its commands together (one cgroup for the Box), and Limits.Time and
// CPUTime bound the Box's whole life (past them the Box ends, and Err says
// which). Limits.Output is per command. Past Limits.Memory the kernel's
// OOM killer kills the Box's commands (on cgroup v2 all of them at once,
// memory.oom.group); the Box itself goes on, and takes more commands.
// Its commands share one Landlock domain too (see README, "Long-lived
// sandboxes: Box"), so that they can see and signal one another. Nothing
// resets a Box between its commands (unlike Options.Reuse): what one
// command changes, the next finds, including what it may change of the
// Box's init (its rlimits and scheduling priority, through prlimit and
// setpriority on pid 1, allowed to the same user): a command can make
// later Execs and copies of its own Box fail, and nothing beyond it.
//
// A Box is safe for concurrent use. It is independent of the Sandbox's
// pool: Sandbox.Close does not end it; Stop, or the context given to
// Start, does.
type Box struct {
	b         *booted
	start     time.Time
	lim       Limits
	noCgroup  *FeatureError // why the Box has no cgroup (Stats), or nil
	stopWatch func() bool   // ends the watch on Start's context
	initCPU0  time.Duration // the init's CPU time when the Box was ready

	settleOnce sync.Once // the cgroup settled (Settle), once its first command started
	settleErr  error

	done chan struct{} // closed when the Box has ended and is torn down

	mu      sync.Mutex
	cause   error // why the Box ends: set by the first of Stop, the context, a limit; or the init's death
	stopErr error // the teardown's
}

// Start boots a sandbox that outlives one command: run commands in it
// with Exec, end it with Stop. ctx bounds the Box's whole life: cancelling
// it ends the Box as Stop does (Err then wraps ctx.Err()), set-up
// included. Start boots a fresh sandbox, never one of the pool.
//
// Options.Reuse makes no sense for a Box, which is never reset between its
// commands: with it Start returns an *OptionError. The Box gets a cgroup
// whenever one can be had, so that Stats works without limits too.
func (s *Sandbox) Start(ctx context.Context) (*Box, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !mainCalled {
		return nil, ErrMainNotCalled
	}
	if s.opts.Reuse {
		return nil, &OptionError{"Options.Reuse", true, "must be false for Start: a Box keeps its state across its commands and is never reset; use Run for a sandbox reused between runs"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.compileErr(false); err != nil {
		return nil, err
	}
	start := time.Now()
	res, noCg, err := s.newBoxResources()
	if err != nil {
		return nil, err
	}
	res.degraded = append(res.degraded, s.landlockNotes...)
	b, err := s.startInit(ctx, res, true)
	if err != nil {
		res.close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { b.kill() })
	err = b.awaitReady()
	stop()
	if err != nil {
		b.teardown()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sandbox: set-up interrupted: %w", ctx.Err())
		}
		return nil, err
	}
	x := &Box{b: b, start: start, lim: s.opts.Limits, noCgroup: noCg, done: make(chan struct{})}
	x.initCPU0, _ = b.cpuTime()
	x.stopWatch = context.AfterFunc(ctx, func() { x.end(fmt.Errorf("sandbox: the box's context ended: %w", ctx.Err())) })
	x.enforce()
	go x.watchInit()
	return x, nil
}

// newBoxResources makes a Box's resources: as a run's when the limits or
// Options.CgroupParent need a cgroup; else a cgroup if one can be had
// without moving the caller (for Stats), and none, with the reason, if not.
func (s *Sandbox) newBoxResources() (*resources, *FeatureError, error) {
	if s.opts.Limits.needsCgroup() || s.opts.CgroupParent != "" {
		res, err := s.newResources()
		if err != nil {
			return nil, nil, err
		}
		var noCg *FeatureError
		if res.cg == nil {
			noCg = &FeatureError{Feature: "cgroups", Reason: "the box runs without a cgroup (Options.Degrade): " + strings.Join(res.degraded, "; "),
				Fix: "run where a cgroup can be created (see Check), or name a writable one with Options.CgroupParent"}
		}
		return res, noCg, nil
	}
	if !cgroup.CreatesQuietly() {
		// On cgroup v2 the first cgroup made in the caller's own would move
		// the caller into a leaf (corral-host), which limits and
		// CgroupParent ask for, and Stats alone should not.
		return &resources{}, &FeatureError{Feature: "cgroups",
			Reason: "no limit and no Options.CgroupParent asked for a cgroup, and on cgroup v2 the first one made in this process's own cgroup would move this process into a leaf cgroup (Box.Stats reads the box's cgroup)",
			Fix:    "name a delegated cgroup with Options.CgroupParent, or set a limit (Limits.Memory, Pids, CPUs or CPUTime)"}, nil
	}
	cg, err := cgroup.Create("", cgroup.Limits{})
	if err == nil {
		return &resources{cg: cg}, nil, nil
	}
	var un *cgroup.Unavailable
	if !errors.As(err, &un) {
		return nil, nil, fmt.Errorf("sandbox: cgroup: %w", err)
	}
	return &resources{}, &FeatureError{Feature: "cgroups", Reason: un.Reason + " (Box.Stats reads the box's cgroup)", Fix: un.Fix}, nil
}

// enforce starts the watchers of the box-wide limits, Time and CPUTime
// (with a cgroup; without one, RLIMIT_CPU bounds each process instead).
func (x *Box) enforce() {
	if d := x.lim.Time; d > 0 {
		t := time.AfterFunc(d-time.Since(x.start), func() { x.end(&LimitError{Limit: LimitTime}) })
		go func() { <-x.done; t.Stop() }()
	}
	if x.lim.CPUTime > 0 && x.b.res.cg != nil {
		go x.watchCPU()
	}
}

// watchCPU polls the Box's CPU time (its commands' and its init's) often
// enough that the Box cannot pass Limits.CPUTime by more than 100 ms.
func (x *Box) watchCPU() {
	cores := float64(runtime.NumCPU())
	if c := x.lim.CPUs; c > 0 && c < cores {
		cores = c
	}
	maxStep := time.Duration(float64(100*time.Millisecond) / cores)
	for {
		used, err := x.cpuTime()
		if err != nil {
			return
		}
		left := x.lim.CPUTime - used
		if left <= 0 {
			x.end(&LimitError{Limit: LimitCPUTime})
			return
		}
		step := min(time.Duration(float64(left)/cores), maxStep)
		select {
		case <-x.done:
			return
		case <-time.After(max(step, time.Millisecond)):
		}
	}
}

// cpuTime is the CPU time of the Box's commands, from its cgroup, and of
// its init since it was ready.
func (x *Box) cpuTime() (time.Duration, error) {
	used, err := x.b.res.cg.CPU()
	if err != nil {
		return 0, err
	}
	if now, ok := x.b.cpuTime(); ok && now > x.initCPU0 {
		used += now - x.initCPU0
	}
	return used, nil
}

// end ends the Box for cause, unless it is ending already: it kills the
// init (and with it everything in the Box) and the cgroup's processes.
// watchInit then tears the Box down.
func (x *Box) end(cause error) {
	x.mu.Lock()
	first := x.cause == nil
	if first {
		x.cause = cause
	}
	x.mu.Unlock()
	if first {
		x.b.kill()
	}
}

// watchInit waits for the init to close its socket (it exited, or was
// killed: every process of the Box is dead, and every Process of it has
// had its answer), then reaps it, removes the cgroup and closes done.
func (x *Box) watchInit() {
	for range x.b.answers {
		// Nothing comes here after Ready but a failure the init exits on.
	}
	x.b.kill() // the cgroup's strays, if any
	x.b.reap()
	x.stopWatch()
	err := x.b.res.close()
	x.mu.Lock()
	if x.cause == nil {
		x.cause = fmt.Errorf("sandbox: the box's init exited (%s)", x.b.init.ProcessState)
	}
	x.stopErr = err
	x.mu.Unlock()
	close(x.done)
}

// Stop ends the Box: it kills every process in it, waits for them and its
// init to be gone, and removes its cgroup and closes its sockets; nothing
// of it is left. Every Process of the Box has its Wait answered (its
// command killed, and an error matching ErrBoxDone). Stop returns an error
// only when the teardown failed, and the same on every call, also once the
// Box has ended otherwise; why the Box ended is Err.
func (x *Box) Stop() error {
	x.end(ErrBoxStopped)
	<-x.done
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.stopErr
}

// Done returns a channel that is closed when the Box has ended and is torn
// down: after Stop, its context's end, a box-wide limit, or its init's
// death.
func (x *Box) Done() <-chan struct{} { return x.done }

// Err returns nil while the Box runs, and why it ended once Done is
// closed: ErrBoxStopped (Stop), an error wrapping the context's error, a
// *LimitError (Limits.Time or CPUTime), or an error saying the init
// exited.
func (x *Box) Err() error {
	select {
	case <-x.done:
	default:
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cause
}

// doneError is the error of what finds the Box ended or ending.
func (x *Box) doneError() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	cause := x.cause
	if cause == nil {
		cause = errors.New("its init is gone")
	}
	return &boxDoneError{cause}
}

// ending reports whether the Box has ended, or is ending.
func (x *Box) ending() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cause != nil
}

// Pid returns the host pid of the Box's init (pid 1 inside the Box); its
// commands run as its children.
func (x *Box) Pid() int { return x.b.init.Process.Pid }
