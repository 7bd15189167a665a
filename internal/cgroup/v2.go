package cgroup

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

const mountRoot = "/sys/fs/cgroup"

// unified reports whether /sys/fs/cgroup is cgroup v2 alone.
func unified() bool {
	var st unix.Statfs_t
	return unix.Statfs(mountRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// ownV2 is this process's cgroup v2 path as it was at start, before any
// move into a leaf.
var ownV2 = sync.OnceValues(func() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("no cgroup v2 entry in /proc/self/cgroup")
})

// v2Parents memoizes resolved parents: resolving one may move this process.
var v2Parents sync.Map

// resolveV2 returns the parent cgroup for sandboxes and makes sure it can
// hand controllers to children. When the parent is the caller's own cgroup
// and holds the caller, the caller moves to a leaf, own/corral-host, as
// crun and podman do: cgroup v2 lets only leaves hold processes.
func resolveV2(parent string) (string, error) {
	if p, ok := v2Parents.Load(parent); ok {
		return p.(string), nil
	}
	own, err := ownV2()
	if err != nil {
		return "", &Unavailable{Reason: err.Error()}
	}
	p := parent
	if !strings.HasPrefix(parent, "/") {
		p = filepath.Join(own, parent)
	}
	full := filepath.Join(mountRoot, p)
	if unix.Access(full, unix.W_OK) != nil || unix.Access(filepath.Join(full, "cgroup.procs"), unix.W_OK) != nil {
		return "", &Unavailable{
			Reason: fmt.Sprintf("cgroup v2 %s is not writable by uid %d", p, os.Geteuid()),
			Fix:    "run as root, delegate a cgroup to this user (systemd: Delegate=yes, or chown a cgroup directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads), and name it with Options.CgroupParent",
		}
	}
	if p != "/" {
		if err := vacate(full, p == own); err != nil {
			return "", err
		}
	}
	v2Parents.Store(parent, p)
	return p, nil
}

// vacate makes sure the cgroup at full holds no process, so controllers can
// be enabled for its children. Only this process may be moved out, and only
// when it is the caller's own cgroup.
func vacate(full string, isOwn bool) error {
	procs, err := os.ReadFile(filepath.Join(full, "cgroup.procs"))
	if err != nil {
		return &Unavailable{Reason: err.Error()}
	}
	pids := strings.Fields(string(procs))
	if len(pids) == 0 {
		return nil
	}
	if !isOwn || len(pids) != 1 || pids[0] != strconv.Itoa(os.Getpid()) {
		return &Unavailable{
			Reason: fmt.Sprintf("cgroup v2 %s holds processes, and only a cgroup without processes can have child cgroups with limits", full),
			Fix:    "name an empty delegated cgroup with Options.CgroupParent (or --cgroup-parent)",
		}
	}
	leaf := filepath.Join(full, "corral-host")
	if err := os.Mkdir(leaf, 0o755); err != nil && !os.IsExist(err) {
		return &Unavailable{Reason: "creating " + leaf + ": " + err.Error()}
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return &Unavailable{Reason: "moving this process into " + leaf + ": " + err.Error()}
	}
	return nil
}

type v2 struct {
	lim            Limits
	path           string // S, from the cgroup root
	dir            string // S on disk
	controllers    []string
	initFD, cmdFD  *os.File
	cmdMgr, initMg *cgroup2.Manager
	sBounded       bool // S has the CPU bandwidth limit (Settle)
}

func createV2(parent string, lim Limits) (Sandbox, error) {
	p, err := resolveV2(parent)
	if err != nil {
		return nil, err
	}
	pdir := filepath.Join(mountRoot, p)
	removeStaleV2(pdir)
	avail := words(filepath.Join(pdir, "cgroup.controllers"))
	for _, need := range needed(lim) {
		if !slices.Contains(avail, need) {
			return nil, &Unavailable{
				Reason: fmt.Sprintf("the cgroup v2 %s controller is not available in %s (it has: %s)", need, p, strings.Join(avail, " ")),
				Fix:    "enable it in the parent's cgroup.subtree_control, or delegate it (systemd 252+ delegates cpu, memory and pids)",
			}
		}
	}
	var ctrls []string
	for _, c := range []string{"cpu", "memory", "pids"} {
		if slices.Contains(avail, c) {
			ctrls = append(ctrls, c)
		}
	}
	enable(pdir, ctrls)
	s := &v2{lim: lim, path: filepath.Join(p, newName())}
	s.dir = filepath.Join(mountRoot, s.path)
	if _, err := cgroup2.NewManager(mountRoot, s.path, &cgroup2.Resources{}); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", s.path, err)
	}
	enable(s.dir, ctrls)
	ok := false
	defer func() {
		if !ok {
			s.Delete()
		}
	}()
	if s.initMg, err = cgroup2.NewManager(mountRoot, s.path+"/init", &cgroup2.Resources{}); err != nil {
		return nil, fmt.Errorf("create cgroup %s/init: %w", s.path, err)
	}
	if s.cmdMgr, err = cgroup2.NewManager(mountRoot, s.path+"/cmd", v2Resources(lim, s.dir)); err != nil {
		return nil, fmt.Errorf("create cgroup %s/cmd with limits: %w", s.path, err)
	}
	s.controllers = words(filepath.Join(s.dir, "cmd", "cgroup.controllers"))
	if s.initFD, err = os.Open(filepath.Join(s.dir, "init")); err != nil {
		return nil, err
	}
	if s.cmdFD, err = os.Open(filepath.Join(s.dir, "cmd")); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func v2Resources(lim Limits, dir string) *cgroup2.Resources {
	r := &cgroup2.Resources{}
	if lim.Memory > 0 {
		group := true
		r.Memory = &cgroup2.Memory{Max: &lim.Memory, OOMGroup: &group}
		if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil {
			var none int64
			r.Memory.Swap = &none
		}
	}
	if lim.Pids > 0 {
		r.Pids = &cgroup2.Pids{Max: lim.Pids}
	}
	if lim.CPUs > 0 {
		quota, period := int64(lim.CPUs*100000), uint64(100000)
		r.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &period)}
	}
	return r
}

// needed lists the controllers the limits need.
func needed(lim Limits) []string {
	var n []string
	if lim.CPUs > 0 {
		n = append(n, "cpu")
	}
	if lim.Memory > 0 {
		n = append(n, "memory")
	}
	if lim.Pids > 0 {
		n = append(n, "pids")
	}
	return n
}

// enable enables controllers for the children of dir, where not yet done.
func enable(dir string, ctrls []string) {
	have := words(filepath.Join(dir, "cgroup.subtree_control"))
	var add []string
	for _, c := range ctrls {
		if !slices.Contains(have, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) > 0 {
		// Errors show up as missing controllers in the children.
		os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(add, " ")), 0)
	}
}

func words(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

func (s *v2) Version() int                                     { return 2 }
func (s *v2) Path() string                                     { return s.path }
func (s *v2) Controllers() []string                            { return s.controllers }
func (s *v2) InitFD() *os.File                                 { return s.initFD }
func (s *v2) CommandFiles() (*os.File, []*os.File, []*os.File) { return s.cmdFD, nil, nil }

func (s *v2) Stats() Stats {
	var st Stats
	st.CPU, _ = s.CPU()
	peak, _ := readUint(filepath.Join(s.dir, "cmd", "memory.peak"))
	st.MemoryPeak = int64(peak)
	st.OOMKills, _ = readKey(filepath.Join(s.dir, "cmd", "memory.events"), "oom_kill")
	st.PidsMax, _ = readKey(filepath.Join(s.dir, "cmd", "pids.events"), "max")
	return st
}

func (s *v2) Kill() error { return killV2(s.dir) }

func (s *v2) Renew() error {
	s.cmdFD.Close()
	s.cmdFD = nil
	if err := rmdirRetry(filepath.Join(s.dir, "cmd")); err != nil {
		return fmt.Errorf("remove cgroup %s/cmd: %w", s.path, err)
	}
	var err error
	if s.cmdMgr, err = cgroup2.NewManager(mountRoot, s.path+"/cmd", v2Resources(s.lim, s.dir)); err != nil {
		return fmt.Errorf("create cgroup %s/cmd with limits: %w", s.path, err)
	}
	s.cmdFD, err = os.Open(filepath.Join(s.dir, "cmd"))
	return err
}

func (s *v2) Delete() error {
	closeAll(s.initFD, s.cmdFD)
	return removeV2(s.dir)
}

// killV2 kills every process in the cgroup tree at dir.
func killV2(dir string) error {
	err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	if err == nil || os.IsNotExist(err) && !exists(dir) {
		return nil
	}
	killTree(dir) // before Linux 5.14
	return nil
}

// removeV2 kills what is left in the tree at dir, waits for it to empty and removes it.
func removeV2(dir string) error {
	if !exists(dir) || removeEmpty(dir) {
		return nil
	}
	killV2(dir)
	for i := 0; i < 200; i++ {
		if v, err := readKey(filepath.Join(dir, "cgroup.events"), "populated"); err != nil || v == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return removeTree(dir)
}

// removeStaleV2 removes the sandbox cgroups of dead hosts under dir.
func removeStaleV2(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() && staleName(e.Name()) {
			removeV2(filepath.Join(dir, e.Name()))
		}
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// CreatesQuietly reports whether Create with no parent would leave this
// process where it is: on cgroup v1 (and hybrid hosts) always; on cgroup
// v2 once a parent has been resolved (a move into the leaf, if one was
// needed, is done), or when the process's own cgroup holds no process. A
// caller that wants a cgroup only if it comes without that side effect
// asks first.
func CreatesQuietly() bool {
	if !unified() {
		return true
	}
	if _, ok := v2Parents.Load(""); ok {
		return true
	}
	own, err := ownV2()
	if err != nil {
		return true // Create says why it cannot
	}
	procs, err := os.ReadFile(filepath.Join(mountRoot, own, "cgroup.procs"))
	return err == nil && len(strings.Fields(string(procs))) == 0
}
