package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Hierarchies are the only v1 hierarchies a sandbox uses.
var v1Hierarchies = []cgroup1.Name{cgroup1.Memory, cgroup1.Pids, cgroup1.Cpu, cgroup1.Cpuacct}

type v1 struct {
	lim         Limits
	name        string
	paths       map[cgroup1.Name]string // S in each hierarchy, from its root
	controllers []string
	cg, init    cgroup1.Cgroup
	cmd         cgroup1.Cgroup
	enter       []*os.File
	leave       []*os.File
	sBounded    bool // S has the CPU bandwidth limit (Settle)
}

// parentsV1 resolves the parent in every hierarchy this process can write to.
func parentsV1(parent string) (map[cgroup1.Name]string, error) {
	own, err := cgroup1.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return nil, &Unavailable{Reason: err.Error()}
	}
	paths := map[cgroup1.Name]string{}
	var denied []string
	for _, h := range v1Hierarchies {
		base, ok := own[string(h)]
		if !ok || !exists(filepath.Join(mountRoot, string(h))) {
			continue
		}
		p := parent
		if !strings.HasPrefix(parent, "/") {
			p = filepath.Join(base, parent)
		}
		full := filepath.Join(mountRoot, string(h), p)
		if unix.Access(full, unix.W_OK) != nil {
			denied = append(denied, string(h)+":"+p)
			continue
		}
		paths[h] = p
	}
	if len(paths) == 0 {
		return nil, &Unavailable{
			Reason: fmt.Sprintf("cgroup v1: uid %d cannot create cgroups in %s", os.Geteuid(), strings.Join(denied, ", ")),
			Fix:    "run as root, or have an administrator create a directory in each hierarchy (memory, pids, cpu, cpuacct) beneath this process's cgroup, chown it to this user and name it with Options.CgroupParent",
		}
	}
	return paths, nil
}

func createV1(parent string, lim Limits) (Sandbox, error) {
	parents, err := parentsV1(parent)
	if err != nil {
		return nil, err
	}
	need := map[string]cgroup1.Name{"memory": cgroup1.Memory, "pids": cgroup1.Pids, "cpu": cgroup1.Cpu}
	for _, n := range needed(lim) {
		if _, ok := parents[need[n]]; !ok {
			return nil, &Unavailable{
				Reason: fmt.Sprintf("the cgroup v1 %s hierarchy is not usable here", n),
				Fix:    "mount it, or create a writable directory for this user in it and name it with Options.CgroupParent",
			}
		}
	}
	s := &v1{lim: lim, name: newName(), paths: map[cgroup1.Name]string{}}
	var subsystems []cgroup1.Subsystem
	for _, h := range v1Hierarchies {
		p, ok := parents[h]
		if !ok {
			continue
		}
		removeStaleV1(filepath.Join(mountRoot, string(h), p))
		s.paths[h] = filepath.Join(p, s.name)
		s.controllers = append(s.controllers, string(h))
		switch h {
		case cgroup1.Memory:
			subsystems = append(subsystems, cgroup1.NewMemory(mountRoot, cgroup1.OptionalSwap()))
		case cgroup1.Pids:
			subsystems = append(subsystems, cgroup1.NewPids(mountRoot))
		case cgroup1.Cpu:
			subsystems = append(subsystems, cgroup1.NewCpu(mountRoot))
		case cgroup1.Cpuacct:
			subsystems = append(subsystems, cgroup1.NewCpuacct(mountRoot))
		}
	}
	path := func(n cgroup1.Name) (string, error) {
		if p, ok := s.paths[n]; ok {
			return p, nil
		}
		return "", cgroup1.ErrControllerNotActive
	}
	hierarchy := cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return subsystems, nil })
	if s.cg, err = cgroup1.New(path, &specs.LinuxResources{}, hierarchy); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", s.Path(), err)
	}
	ok := false
	defer func() {
		if !ok {
			s.Delete()
		}
	}()
	if s.init, err = s.cg.New("init", &specs.LinuxResources{}); err != nil {
		return nil, fmt.Errorf("create cgroup %s/init: %w", s.Path(), err)
	}
	if err := s.newCmd(); err != nil {
		return nil, err
	}
	for h, p := range s.paths {
		file, err := os.OpenFile(filepath.Join(mountRoot, string(h), p, "init", "tasks"), os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		s.leave = append(s.leave, file)
	}
	ok = true
	return s, nil
}

// newCmd creates S/cmd with the limits and opens its tasks files.
func (s *v1) newCmd() error {
	// The init's forking thread passes through cmd: allow it one more pid
	// until Settle.
	startLim := s.lim
	if startLim.Pids > 0 {
		startLim.Pids++
	}
	var err error
	if s.cmd, err = s.cg.New("cmd", v1Resources(startLim)); err != nil {
		return fmt.Errorf("create cgroup %s/cmd with limits: %w", s.Path(), err)
	}
	for h, p := range s.paths {
		file, err := os.OpenFile(filepath.Join(mountRoot, string(h), p, "cmd", "tasks"), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		s.enter = append(s.enter, file)
	}
	return nil
}

func (s *v1) Renew() error {
	closeAll(s.enter...)
	s.enter = nil
	for h, p := range s.paths {
		if err := rmdirRetry(filepath.Join(mountRoot, string(h), p, "cmd")); err != nil {
			return fmt.Errorf("remove cgroup %s/cmd: %w", p, err)
		}
	}
	return s.newCmd()
}

func v1Resources(lim Limits) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if lim.Memory > 0 {
		// Swap is memory+swap on v1: the same figure means no swap.
		r.Memory = &specs.LinuxMemory{Limit: &lim.Memory, Swap: &lim.Memory}
		if tcpAccounting() {
			// v1 charges socket buffers (TCP, UDP) only to a cgroup with a
			// TCP limit, and to that counter alone, apart from the memory
			// limit; without one they escape it entirely and can pin the
			// host's tcp_mem. The same figure: a program may use all of its
			// memory for sockets, as on v2, and at worst holds twice the
			// limit in all. Unix socket buffers are kernel memory, charged
			// to the memory limit itself (measured on Linux 6.18).
			r.Memory.KernelTCP = &lim.Memory
		}
	}
	if lim.Pids > 0 {
		r.Pids = &specs.LinuxPids{Limit: &lim.Pids}
	}
	if lim.CPUs > 0 {
		quota, period := int64(lim.CPUs*100000), uint64(100000)
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	return r
}

// tcpAccounting reports whether the v1 memory controller has
// memory.kmem.tcp.limit_in_bytes (a kernel with kernel memory accounting).
func tcpAccounting() bool {
	return exists(filepath.Join(mountRoot, string(cgroup1.Memory), "memory.kmem.tcp.limit_in_bytes"))
}

func (s *v1) Version() int { return 1 }

func (s *v1) Path() string {
	if p, ok := s.paths[cgroup1.Memory]; ok {
		return p
	}
	for _, p := range s.paths {
		return p
	}
	return ""
}

func (s *v1) Controllers() []string                            { return s.controllers }
func (s *v1) InitFD() *os.File                                 { return nil }
func (s *v1) CommandFiles() (*os.File, []*os.File, []*os.File) { return nil, s.enter, s.leave }

func (s *v1) file(h cgroup1.Name, name string) string {
	p, ok := s.paths[h]
	if !ok {
		return ""
	}
	return filepath.Join(mountRoot, string(h), p, "cmd", name)
}

func (s *v1) Settle() error {
	if err := s.boundS(); err != nil {
		return err
	}
	if s.lim.Pids == 0 {
		return nil
	}
	return s.cmd.Update(v1Resources(Limits{Pids: s.lim.Pids}))
}

func (s *v1) Stats() Stats {
	var st Stats
	st.CPU, _ = s.CPU()
	peak, _ := readUint(s.file(cgroup1.Memory, "memory.max_usage_in_bytes"))
	st.MemoryPeak = int64(peak)
	st.OOMKills, _ = readKey(s.file(cgroup1.Memory, "memory.oom_control"), "oom_kill")
	st.PidsMax, _ = readKey(s.file(cgroup1.Pids, "pids.events"), "max")
	return st
}

func (s *v1) Kill() error {
	for h, p := range s.paths {
		killTree(filepath.Join(mountRoot, string(h), p))
	}
	return nil
}

func (s *v1) Delete() error {
	closeAll(s.enter...)
	closeAll(s.leave...)
	var firstErr error
	for h, p := range s.paths {
		dir := filepath.Join(mountRoot, string(h), p)
		if removeEmpty(dir) {
			continue
		}
		killTree(dir)
		if err := removeTree(dir); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// removeStaleV1 removes the sandbox cgroups of dead hosts under dir.
func removeStaleV1(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() && staleName(e.Name()) {
			killTree(filepath.Join(dir, e.Name()))
			removeTree(filepath.Join(dir, e.Name()))
		}
	}
}
