package sandbox

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// Result is how a sandboxed command ended.
type Result struct {
	// ExitCode is the command's exit status, or -1 if a signal killed it.
	ExitCode int
	// Signal is the signal that killed the command, or 0.
	Signal syscall.Signal
	// Wall is the time from Run to the end of the sandbox (for a command
	// Exec'd into a Box, from Exec to the command's exit).
	Wall time.Duration
	// UserTime and SystemTime are the CPU time of the command and of the
	// processes it waited for.
	UserTime, SystemTime time.Duration
	// MaxRSS is the largest resident set size, in bytes, of the command
	// or of any process it waited for.
	MaxRSS int64

	// Limit names the limit that ended the run (LimitMemory, LimitPids,
	// LimitTime, LimitCPUTime, LimitOutput), or is "". LimitPids means
	// forks were refused at the pids limit during a run that then ended.
	Limit string
	// OOMKilled reports that the kernel's OOM killer killed a process of
	// the command because of Limits.Memory.
	OOMKilled bool
	// TimedOut reports that Limits.Time ended the run.
	TimedOut bool
	// OutputTruncated reports that output past Limits.Output was discarded.
	OutputTruncated bool
	// PidsLimitHit reports that forks were refused at Limits.Pids.
	PidsLimitHit bool
	// CPUTime is the CPU time (user and system) of every process of the
	// command, from its cgroup (without one, UserTime+SystemTime), and of
	// the sandbox's init from the command's start to its end: what the
	// command makes the init do (signals to it, where the kernel lacks
	// Landlock's signal scope) counts as the command's.
	CPUTime time.Duration
	// MemoryPeak is the command's peak memory in bytes, from its cgroup
	// (memory.peak, or memory.max_usage_in_bytes on cgroup v1); without
	// one, MaxRSS.
	MemoryPeak int64
	// Cgroup is the command's cgroup, from the cgroup root, and Controllers
	// the controllers it had; both are empty when the run had no cgroup.
	// The cgroup is gone once Wait returns (with a pool, soon after).
	Cgroup      string
	Controllers []string
	// Degraded lists what was weakened because a feature was missing and
	// Options.Degrade allowed going on without it.
	Degraded []string
	// Warm reports that the run used a sandbox built ahead of time by the
	// pool (Options.Pool).
	Warm bool
}

// Success reports whether the command exited with status 0.
func (r *Result) Success() bool { return r.ExitCode == 0 && r.Signal == 0 }

// String describes the result like os.ProcessState does: "exit status 3",
// "signal: killed".
func (r *Result) String() string {
	if r.Signal != 0 {
		return "signal: " + r.Signal.String()
	}
	return fmt.Sprintf("exit status %d", r.ExitCode)
}

// SignalName returns the signal's name ("SIGKILL"), or "" when the command
// was not killed by a signal.
func (r *Result) SignalName() string {
	if r.Signal == 0 {
		return ""
	}
	return unix.SignalName(r.Signal)
}

// newResult builds the Result from the init's report, or, when the init
// died without one (killed), from the init's own exit status.
func newResult(ex *protocol.Exited, ps *os.ProcessState, wall time.Duration) *Result {
	r := &Result{Wall: wall}
	if ex != nil {
		r.ExitCode, r.Signal = ex.ExitCode, syscall.Signal(ex.Signal)
		r.UserTime = time.Duration(ex.UserUsec) * time.Microsecond
		r.SystemTime = time.Duration(ex.SystemUsec) * time.Microsecond
		r.MaxRSS = ex.MaxRSS
		return r
	}
	r.ExitCode = -1
	r.Signal = syscall.SIGKILL
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		switch {
		case ws.Signaled():
			r.Signal = ws.Signal()
		case ws.Exited():
			r.ExitCode, r.Signal = ws.ExitStatus(), 0
		}
	}
	r.UserTime, r.SystemTime = ps.UserTime(), ps.SystemTime()
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss * 1024
	}
	return r
}
