package cgroup

// What the command's cgroup holds right now (Sandbox.Usage), for a host
// that polls a live sandbox.

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// Usage is what the command's cgroup holds now.
type Usage struct {
	Memory    int64 // bytes charged now; -1 without the memory controller
	Processes int   // processes (not threads) in it
}

// countLines counts the lines of the file at path (cgroup.procs).
func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte{'\n'}), nil
}

func (s *v2) Usage() (Usage, error) {
	u := Usage{Memory: -1}
	var err error
	if u.Processes, err = countLines(filepath.Join(s.dir, "cmd", "cgroup.procs")); err != nil {
		return u, err
	}
	if m, err := readUint(filepath.Join(s.dir, "cmd", "memory.current")); err == nil {
		u.Memory = int64(m)
	}
	return u, nil
}

func (s *v1) Usage() (Usage, error) {
	u := Usage{Memory: -1}
	counted := false
	for _, h := range v1Hierarchies {
		if p := s.file(h, "cgroup.procs"); p != "" {
			n, err := countLines(p)
			if err != nil {
				return u, err
			}
			u.Processes, counted = n, true
			break
		}
	}
	if !counted {
		return u, errors.New("no cgroup v1 hierarchy to count processes in")
	}
	if m, err := readUint(s.file(cgroup1.Memory, "memory.usage_in_bytes")); err == nil {
		u.Memory = int64(m)
	}
	return u, nil
}
