// Package testutil holds helpers for Corral's tests: a leak check that wraps
// a whole test binary, and the rule that sandbox tests never skip silently.
package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Snapshot is the state of this process and host that a sandbox could leak.
type Snapshot struct {
	Mounts   int      // lines in this process's mountinfo
	FDs      []string // open fds of this process, as "N -> target"
	Children []int    // live child processes
	TempDirs []string // entries named corral-* in the temp dir
	Cgroups  []string // this process's sandbox cgroups (corral-<pid>.<start>.<pidns>-<n>)
}

// Take records the current state.
func Take() Snapshot {
	var s Snapshot
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		s.Mounts = strings.Count(string(b), "\n")
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory fd used by ReadDir itself
		}
		s.FDs = append(s.FDs, e.Name()+" -> "+target)
	}
	s.Children = Children(os.Getpid())
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "corral-*"))
	s.TempDirs = matches
	// Only this process's own: other test binaries may run sandboxes at the
	// same time (go test runs packages in parallel).
	own := "corral-" + strconv.Itoa(os.Getpid()) + "."
	for _, c := range SandboxCgroups() {
		if strings.HasPrefix(filepath.Base(c), own) {
			s.Cgroups = append(s.Cgroups, c)
		}
	}
	return s
}

// CgroupParent is the cgroup parent the tests use: CORRAL_CGROUP_PARENT,
// set by the rootless and VM lanes to a cgroup delegated to the test user.
func CgroupParent() string { return os.Getenv("CORRAL_CGROUP_PARENT") }

// CgroupDirs returns the directories where this process's sandbox cgroups
// are created: its own cgroup, or CgroupParent, in every hierarchy.
func CgroupDirs() []string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	parent := CgroupParent()
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		root := "/sys/fs/cgroup"
		switch {
		case f[1] == "" && unified():
		case slices.ContainsFunc(strings.Split(f[1], ","), func(c string) bool {
			return slices.Contains([]string{"memory", "pids", "cpu", "cpuacct"}, c)
		}) && !unified():
			root = filepath.Join(root, f[1])
		default:
			continue // a hierarchy sandboxes do not use
		}
		own := filepath.Join(root, f[2])
		if strings.HasSuffix(own, "/corral-host") { // the v2 leaf a host moves into
			own = filepath.Dir(own)
		}
		switch {
		case parent == "":
			dirs = append(dirs, own)
		case strings.HasPrefix(parent, "/"):
			dirs = append(dirs, filepath.Join(root, parent))
		default:
			dirs = append(dirs, filepath.Join(own, parent))
		}
	}
	return dirs
}

func unified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// SandboxCgroups lists the sandbox cgroups (corral-<pid>.<start>.<pidns>-<n>) that exist now.
func SandboxCgroups() []string {
	var out []string
	for _, d := range CgroupDirs() {
		m, _ := filepath.Glob(filepath.Join(d, "corral-[0-9]*"))
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// Children returns the pids of the live (not zombie) children of pid.
func Children(pid int) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			id, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			out = append(out, id)
		}
	}
	sort.Ints(out)
	return out
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// RunChecked runs the tests of m inside a leak check (Take before, Leaks
// after) and returns the exit code for os.Exit: 1 when anything leaked.
func RunChecked(m *testing.M) int {
	before := Take()
	code := m.Run()
	if leaks := Leaks(before); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "LEAK CHECK FAILED:\n  "+strings.Join(leaks, "\n  "))
		code = 1
	}
	return code
}

// Leaks compares the state now with before and describes what was left
// behind. Processes get a grace period to be reaped.
func Leaks(before Snapshot) []string {
	var after Snapshot
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = Take()
		if len(after.Children) <= len(before.Children) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var leaks []string
	if after.Mounts != before.Mounts {
		leaks = append(leaks, fmt.Sprintf("mounts: %d before, %d after", before.Mounts, after.Mounts))
	}
	if d := diff(before.FDs, after.FDs); len(d) > 0 {
		leaks = append(leaks, "fds left open: "+strings.Join(d, ", "))
	}
	if len(after.Children) > len(before.Children) {
		leaks = append(leaks, fmt.Sprintf("child processes: %v before, %v after", before.Children, after.Children))
	}
	if d := diff(before.Cgroups, after.Cgroups); len(d) > 0 {
		leaks = append(leaks, "cgroups left: "+strings.Join(d, ", "))
	}
	if d := diff(before.TempDirs, after.TempDirs); len(d) > 0 {
		leaks = append(leaks, "temp dirs left: "+strings.Join(d, ", "))
	}
	return leaks
}

func diff(before, after []string) []string {
	had := map[string]bool{}
	for _, s := range before {
		had[s] = true
	}
	var out []string
	for _, s := range after {
		if !had[s] {
			out = append(out, s)
		}
	}
	return out
}
