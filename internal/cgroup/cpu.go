package cgroup

// The CPU bandwidth limit (Limits.CPUs) is set on S/cmd as the sandbox
// is made, and, once the command runs (Settle), on S too, so that it
// bounds the init and the command together: a command can make its init
// work for it (signals, before Landlock's signal scope in Linux 6.12). On
// v2 the init is in S/init; on v1 only its launcher thread is (the rest
// stays in the caller's cgroup: moving a whole process costs an RCU grace
// period), so there S's limit bounds the command alone. Memory and pids
// stay on S/cmd alone: the init's own few MiB and threads are not the
// command's. The host counts the init's CPU time in the run's by the
// init's process CPU clock (package sandbox), on v1 and v2 alike.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// quota is the CFS quota of cpus cores per 100 ms period, in µs.
func quota(cpus float64) int64 { return int64(cpus * 100000) }

// boundS sets the CPU bandwidth limit on S (the cpu hierarchy), once.
func (s *v1) boundS() error {
	if s.lim.CPUs <= 0 || s.sBounded {
		return nil
	}
	p, ok := s.paths[cgroup1.Cpu]
	if !ok {
		return nil
	}
	dir := filepath.Join(mountRoot, string(cgroup1.Cpu), p)
	if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte("100000"), 0); err != nil {
		return fmt.Errorf("cpu.cfs_period_us of %s: %w", p, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.FormatInt(quota(s.lim.CPUs), 10)), 0); err != nil {
		return fmt.Errorf("cpu.cfs_quota_us of %s: %w", p, err)
	}
	s.sBounded = true
	return nil
}

// CPU is the command's CPU time so far.
func (s *v1) CPU() (time.Duration, error) {
	ns, err := readUint(s.file(cgroup1.Cpuacct, "cpuacct.usage"))
	return time.Duration(ns), err
}

// boundS sets the CPU bandwidth limit on S, once.
func (s *v2) boundS() error {
	if s.lim.CPUs <= 0 || s.sBounded {
		return nil
	}
	max := strconv.FormatInt(quota(s.lim.CPUs), 10) + " 100000"
	if err := os.WriteFile(filepath.Join(s.dir, "cpu.max"), []byte(max), 0); err != nil {
		return fmt.Errorf("cpu.max of %s: %w", s.path, err)
	}
	s.sBounded = true
	return nil
}

// CPU is the command's CPU time so far.
func (s *v2) CPU() (time.Duration, error) {
	us, err := readKey(filepath.Join(s.dir, "cmd", "cpu.stat"), "usage_usec")
	return time.Duration(us) * time.Microsecond, err
}

// Settle bounds S's CPU bandwidth, once.
func (s *v2) Settle() error { return s.boundS() }
