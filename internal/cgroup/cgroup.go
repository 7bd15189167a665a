// Package cgroup gives each sandbox its own cgroup, through
// github.com/containerd/cgroups/v3, on cgroup v2 (a delegated subtree or,
// as root, anywhere) and on cgroup v1 or hybrid hosts.
//
// A sandbox's cgroup S has two leaves: S/init holds the sandbox's init
// (pid 1, a Go program with several threads and a few MiB of memory) and
// S/cmd holds the command, with the limits. On cgroup v2 the init is born
// in S/init (CLONE_INTO_CGROUP). On v1 nothing can place a process at
// birth, and moving a running multi-threaded one costs milliseconds (the
// kernel's cgroup_threadgroup_rwsem waits for an RCU grace period), so the
// init stays in the caller's cgroups; only its thread that starts the
// command moves itself, cheaply, through S/cmd into S/init. So a limit of 16 pids or 16 MiB
// is the command's own, and cgroup v2's rule that only leaves hold processes
// is kept. S is named corral-<host pid>.<host start time>.<pid namespace>-<n>,
// so a later sandbox under the same parent can tell, and remove, the cgroups
// of a host that was killed before it could clean up. A host in another pid
// namespace (another container sharing the parent) cannot be judged from
// here: its cgroups are left alone, never taken for stale.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Limits are the limits of the command's cgroup; zero means none.
type Limits struct {
	Memory int64   // bytes of memory; swap is not allowed
	Pids   int64   // processes and threads
	CPUs   float64 // CPU bandwidth, in cores
}

// Stats are what the command's cgroup counted.
type Stats struct {
	CPU        time.Duration // user + system time of every process
	MemoryPeak int64         // bytes
	OOMKills   uint64        // processes killed by the OOM killer
	PidsMax    uint64        // forks refused at the pids limit
}

// Unavailable says why no cgroup can be had here, and how to get one.
type Unavailable struct {
	Reason string
	Fix    string
}

func (u *Unavailable) Error() string { return "cgroups unavailable: " + u.Reason }

// Sandbox is the cgroup of one sandbox.
type Sandbox interface {
	// Version is 1 or 2.
	Version() int
	// Path is S, relative to the cgroup root (on v1, of the memory hierarchy if present).
	Path() string
	// Controllers are the controllers obtained for the command's cgroup.
	Controllers() []string
	// InitFD is a directory fd of S/init for CLONE_INTO_CGROUP (v2), or nil.
	InitFD() *os.File
	// CommandFiles are what the init needs to start the command in S/cmd:
	// on v2 a directory fd (dir), on v1 the tasks files of S/cmd (enter) and
	// S/init (leave) of every hierarchy.
	CommandFiles() (dir *os.File, enter, leave []*os.File)
	// Settle is called once the command runs, to finish what its start
	// needed (v1 starts it with one more pid allowed, for the init's thread
	// that forks it), and to bound S's CPU bandwidth too (see cpu.go; the
	// init's set-up is not throttled).
	Settle() error
	// CPU is the command's CPU time so far.
	CPU() (time.Duration, error)
	// Stats reads the command's statistics.
	Stats() Stats
	// Usage reads what the command's cgroup holds now.
	Usage() (Usage, error)
	// Renew replaces the command's cgroup S/cmd, empty once the command's
	// processes are gone, with a new one with the same limits, so that a
	// reused sandbox's next command starts from zero counters; afterwards
	// CommandFiles returns the new cgroup's files.
	Renew() error
	// Kill kills every process in S.
	Kill() error
	// Delete kills what is left and removes S; the files are closed.
	Delete() error
}

// Create makes the cgroup of a new sandbox under parent: "" means the
// caller's own cgroup, a relative path is beneath it (in every v1
// hierarchy), an absolute one is from the cgroup root. Stale cgroups of dead
// hosts under the same parent are removed first.
func Create(parent string, lim Limits) (Sandbox, error) {
	if err := checkParent(parent); err != nil {
		return nil, err
	}
	if unified() {
		return createV2(parent, lim)
	}
	return createV1(parent, lim)
}

func checkParent(p string) error {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("cgroup parent %q: must not contain \"..\"", p)
		}
	}
	return nil
}

var seq atomic.Uint64

// self is this process's pid, start time and pid namespace, which name
// its cgroups.
var self = func() string {
	return strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(startTime(os.Getpid()), 10) + "." + pidNS
}()

// pidNS is the inode number of this process's pid namespace, or "0" when
// it cannot be read.
var pidNS = func() string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return "0"
	}
	return strconv.FormatUint(st.Ino, 10)
}()

// newName returns a fresh name for a sandbox cgroup.
func newName() string {
	return fmt.Sprintf("corral-%s-%d", self, seq.Add(1))
}

// staleName reports whether name is a sandbox cgroup of a host process
// that no longer runs.
func staleName(name string) bool {
	rest, ok := strings.CutPrefix(name, "corral-")
	if !ok {
		return false
	}
	owner, _, ok := strings.Cut(rest, "-")
	f := strings.Split(owner, ".")
	if !ok || len(f) != 3 || f[2] != pidNS || pidNS == "0" {
		return false // not ours to judge: another pid namespace, or not a sandbox cgroup
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return startTime(pid) != start
}

// startTime returns the start time of pid in clock ticks since boot, or 0.
func startTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// readUint reads a file holding one number.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKey reads "key value" lines and returns the value of key.
func readKey(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New(path + ": no " + key)
}

// rmdirRetry removes an emptied cgroup directory; the kernel may need a
// moment after the last process is reaped.
func rmdirRetry(path string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = unix.Rmdir(path)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
	return err
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// killTree sends SIGKILL to every process in the cgroup tree at dir: the
// sandbox's own processes, so ending them by pid is safe.
func killTree(dir string) {
	for _, d := range treeDirs(dir) {
		for _, pid := range words(filepath.Join(d, "cgroup.procs")) {
			if n, err := strconv.Atoi(pid); err == nil && n > 0 { // 0: a process outside our pid namespace; kill(0) would hit our own group
				unix.Kill(n, unix.SIGKILL)
			}
		}
	}
}

// removeEmpty removes the sandbox cgroup at dir (its leaves cmd and init,
// then dir) when they hold no process and no other cgroup, the usual case
// once the sandbox has ended, with three calls instead of a walk. It
// reports whether dir is gone; if not, the caller kills and walks.
func removeEmpty(dir string) bool {
	for _, d := range []string{dir + "/cmd", dir + "/init", dir} {
		if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
			return false
		}
	}
	return true
}

// removeTree removes the emptied cgroup tree at dir, children first.
func removeTree(dir string) error {
	dirs := treeDirs(dir)
	var firstErr error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := rmdirRetry(dirs[i]); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// treeDirs lists dir and the directories beneath it, parents first.
func treeDirs(dir string) []string {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	return dirs
}
