package sandbox

import (
	"math"
	"time"
)

// Limits bound what a sandboxed command may use. The zero value sets no
// limit. Memory, Pids and CPUs need a cgroup (see Options.CgroupParent and
// Options.Degrade); Time, CPUTime and Output are enforced by the host.
type Limits struct {
	// Memory is the most memory, in bytes, the command's processes may use
	// together; swap is not allowed. Past it the kernel's OOM killer ends
	// the command (Result.Limit "memory").
	Memory int64
	// Pids is the most processes and threads the command may have at once;
	// past it fork and clone fail (Result.Limit "pids" if the run then ends).
	Pids int64
	// CPUs is the CPU bandwidth, in cores (0.5 is half of one core). From
	// the command's start it also bounds the sandbox's init and the command
	// together, on cgroup v2 (on v1 most of the init is outside the
	// sandbox's cgroup, and its CPU time is only counted, see CPUTime).
	CPUs float64
	// Time is the wall-clock time after which the whole sandbox is killed
	// (Result.Limit "time").
	Time time.Duration
	// CPUTime is the CPU time, summed over every process of the command
	// and the sandbox's init during the run (see Result.CPUTime), after
	// which the whole sandbox is killed (Result.Limit "cpu-time").
	// It is checked often enough to end the run within 100 ms of the limit.
	CPUTime time.Duration
	// Output is the most bytes of stdout and stderr together that reach the
	// caller; the rest is discarded, Result.OutputTruncated is set and the
	// sandbox is killed (Result.Limit "output"). Under it the command's
	// stdin is always a pipe, even for an *os.File Cmd.Stdin, so that no
	// writable stdin (a terminal, a socket, a file opened for writing)
	// carries output past the cap. Cmd.ExtraFiles are the caller's explicit
	// channels and are not capped, nor are writes to writable mounts or,
	// with NetworkHost, to the network. The copy of an *os.File Stdin, like
	// os/exec's copy of any reader, may still be blocked reading it when
	// Wait returns, and the bytes its last read takes are lost: give a
	// command under Output a reader of its own (not the caller's terminal
	// or long-lived socket) when later reads of that file matter.
	Output int64
}

// The names Result.Limit uses for the limit that ended a run.
const (
	LimitMemory  = "memory"
	LimitPids    = "pids"
	LimitTime    = "time"
	LimitCPUTime = "cpu-time"
	LimitOutput  = "output"
)

func (l *Limits) validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Memory", l.Memory}, {"Pids", l.Pids}, {"Time", int64(l.Time)},
		{"CPUTime", int64(l.CPUTime)}, {"Output", l.Output},
	} {
		if f.v < 0 {
			return &OptionError{"Options.Limits." + f.name, f.v, "must be zero (no limit) or positive"}
		}
	}
	if l.Memory > 0 && l.Memory < 1<<20 {
		return &OptionError{"Options.Limits.Memory", l.Memory, "must be at least 1 MiB (1048576): the kernel cannot run a process in less"}
	}
	if l.CPUs < 0 || math.IsNaN(l.CPUs) || math.IsInf(l.CPUs, 0) {
		return &OptionError{"Options.Limits.CPUs", l.CPUs, "must be zero (no limit) or a positive number of cores, e.g. 0.5"}
	}
	if l.CPUs > 0 && l.CPUs < 0.01 {
		return &OptionError{"Options.Limits.CPUs", l.CPUs, "must be at least 0.01 cores"}
	}
	if l.CPUs > 1e6 {
		return &OptionError{"Options.Limits.CPUs", l.CPUs, "is more cores than any machine has; use 0 for no limit"}
	}
	return nil
}

// needsCgroup reports whether the limits can only be kept with a cgroup.
func (l *Limits) needsCgroup() bool {
	return l.Memory > 0 || l.Pids > 0 || l.CPUs > 0 || l.CPUTime > 0
}
