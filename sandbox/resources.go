package sandbox

// The host side of limits: the sandbox's cgroup, the rlimits that stand in
// for it in degraded mode, the bounds on what the kernel counts per user,
// and the output cap.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/corral-dev/corral/internal/cgroup"
	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// resources is what one run uses to keep its limits.
type resources struct {
	cg       cgroup.Sandbox // nil without a cgroup
	degraded []string
	rlimits  []isolate.Rlimit
	closed   bool // close has run
}

// newResources creates the run's cgroup, or decides what stands in for it.
func (s *Sandbox) newResources() (*resources, error) {
	lim := s.opts.Limits
	r := &resources{}
	// A cgroup only when asked for, by limits or a parent: creating and
	// removing one costs each run, and on cgroup v2 the first one may move
	// the caller into a leaf cgroup. Without it Result counts from rusage.
	if !lim.needsCgroup() && s.opts.CgroupParent == "" {
		return r, nil
	}
	cg, err := cgroup.Create(s.opts.CgroupParent, cgroup.Limits{Memory: lim.Memory, Pids: lim.Pids, CPUs: lim.CPUs})
	if err == nil {
		r.cg = cg
		return r, nil
	}
	var un *cgroup.Unavailable
	if !errors.As(err, &un) {
		return nil, fmt.Errorf("sandbox: cgroup: %w", err)
	}
	if !s.opts.Degrade {
		return nil, &FeatureError{
			Feature: "cgroups",
			Reason:  un.Reason + " (Limits.Memory, Pids, CPUs and CPUTime and Options.CgroupParent need a cgroup)",
			Fix:     un.Fix + "; or set Options.Degrade (--degrade) to use weaker rlimits instead",
		}
	}
	r.degrade(lim, un.Reason)
	return r, nil
}

// degrade replaces the cgroup limits with per-process rlimits and records
// what each one loses.
func (r *resources) degrade(lim Limits, why string) {
	r.degraded = append(r.degraded, "no cgroup: "+why)
	if lim.Memory > 0 {
		m := uint64(lim.Memory)
		r.rlimits = append(r.rlimits, isolate.Rlimit{Resource: unix.RLIMIT_AS, Cur: m, Max: m, AfterStart: true})
		r.degraded = append(r.degraded, "memory: RLIMIT_AS of each process (address space, not memory used; set just after the command started)",
			"tmpfs: the files in /tmp, /work, /dev/shm and other tmpfs mounts count in no memory limit, each mount bounded only by its size (by default up to Limits.Memory)")
	}
	if lim.Pids > 0 {
		n := uint64(lim.Pids)
		r.rlimits = append(r.rlimits, isolate.Rlimit{Resource: unix.RLIMIT_NPROC, Cur: n, Max: n})
		r.degraded = append(r.degraded, fmt.Sprintf("pids: RLIMIT_NPROC, which also counts the sandbox init's threads (%d spare) and does not bind a caller that is root", protocol.NprocSlack))
	}
	if lim.CPUs > 0 {
		r.degraded = append(r.degraded, "cpus: not limited (needs the cpu controller)")
	}
	if lim.CPUTime > 0 {
		sec := uint64(math.Ceil(lim.CPUTime.Seconds()))
		// SIGXCPU at the soft limit ends the command (and names the limit);
		// SIGKILL a second later if it caught the signal.
		// On the command only, just after it started: the init must not
		// accumulate it (a reused sandbox's init runs for many commands).
		r.rlimits = append(r.rlimits, isolate.Rlimit{Resource: unix.RLIMIT_CPU, Cur: sec, Max: sec + 1, AfterStart: true})
		r.degraded = append(r.degraded, fmt.Sprintf("cpu-time: RLIMIT_CPU of %d s for each process, not summed over processes", sec))
	}
}

// userRlimits bound what the kernel counts per user but charges to no
// cgroup: queued signals, POSIX message queue bytes and memory locked by
// SHM_LOCK. Since Linux 5.14 each is counted per user namespace as well,
// charged to the sandbox's namespace and to the caller's uid above it, and
// checked against the rlimit of the process that adds to it: so a hard
// limit on the command bounds what the whole sandbox can take from the
// caller's share. The caller's usual limits are 8 MiB of locked memory,
// 800 KiB of message queues and tens of thousands of signals (scaled by
// memory); a sandbox gets an eighth of the first, a quarter of the second
// (two queues of the default size) and 1,024 signals, which programs that
// queue signals (a JVM, a Go or Node runtime) never come near. Memory
// locked with mlock is counted per process against the same rlimit, and
// charged to the cgroup as any memory.
var userRlimits = []struct {
	resource int
	max      uint64
	set      func(Rlimits) uint64 // the caller's choice, 0 for the default
}{
	{unix.RLIMIT_SIGPENDING, 1024, func(r Rlimits) uint64 { return r.PendingSignals }},
	{unix.RLIMIT_MSGQUEUE, 200 << 10, func(r Rlimits) uint64 { return uint64(r.MessageQueues) }},
	{unix.RLIMIT_MEMLOCK, 1 << 20, func(r Rlimits) uint64 { return uint64(r.LockedMemory) }},
}

// userCounts are the per-user counts to bound in the sandbox's user
// namespace: isolate's defaults, but never more than a quarter of the
// caller's own limit, so that a host with low limits keeps most of them
// for the caller and its other sandboxes. Read once.
var userCounts = sync.OnceValue(func() []isolate.UserCount {
	out := slices.Clone(isolate.UserCountDefaults)
	for i, c := range out {
		out[i].Max = userCountLimit(c.Name, c.Max)
	}
	return out
})

// userCountLimit is the limit a sandbox gets for the count name of
// /proc/sys/user: def, or a quarter of the caller's own limit if less.
func userCountLimit(name string, def int) int {
	b, err := os.ReadFile("/proc/sys/user/" + name)
	if err != nil {
		return def
	}
	host, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return def
	}
	return min(def, host/4)
}

// files returns the cgroup files the init needs to place the command, to
// be sent after first other files, and the placement naming them by their
// index among all the files sent.
func (r *resources) files(first int) ([]*os.File, isolate.Placement) {
	var pl isolate.Placement
	if r.cg == nil {
		return nil, pl
	}
	dir, enter, leave := r.cg.CommandFiles()
	var fs []*os.File
	add := func(f *os.File) int {
		fs = append(fs, f)
		return first + len(fs) - 1
	}
	if dir != nil {
		pl.Dir = add(dir)
	}
	for _, f := range enter {
		pl.Enter = append(pl.Enter, add(f))
	}
	for _, f := range leave {
		pl.Leave = append(pl.Leave, add(f))
	}
	return fs, pl
}

// close removes the cgroup; it may be called again.
func (r *resources) close() error {
	if r.cg == nil || r.closed {
		return nil
	}
	r.closed = true
	if err := r.cg.Delete(); err != nil {
		return fmt.Errorf("sandbox: removing cgroup %s: %w", r.cg.Path(), err)
	}
	return nil
}

// outputCap lets through the first n bytes of stdout and stderr together
// and swallows the rest, closing hit when it starts swallowing. It never
// blocks the command: the pipes are always drained.
type outputCap struct {
	mu        sync.Mutex
	left      int64
	truncated bool
	hit       chan struct{}
}

func (c *outputCap) writer(w io.Writer) io.Writer { return &capWriter{c, w} }

type capWriter struct {
	c *outputCap
	w io.Writer // nil discards
}

func (w *capWriter) Write(p []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	n := min(int64(len(p)), c.left)
	c.left -= n
	first := n < int64(len(p)) && !c.truncated
	if n < int64(len(p)) {
		c.truncated = true
	}
	c.mu.Unlock()
	if n > 0 && w.w != nil {
		if _, err := w.w.Write(p[:n]); err != nil {
			return 0, err
		}
	}
	if first {
		close(c.hit)
	}
	return len(p), nil
}

func (c *outputCap) wasTruncated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.truncated
}
