package isolate

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultPath is the PATH used to find a command when its environment has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// LookPath finds file the way a shell would, using the PATH in env (or
// DefaultPath). A name with a slash is used as it is. The error wraps
// ENOENT when nothing is found and EACCES when only non-executable files are.
func LookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	errno := unix.ENOENT
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
		errno = unix.EACCES
	}
	return "", &Error{Step: "exec", Path: file, Err: errno}
}

// Command is a program for Start to run.
type Command struct {
	Path  string
	Args  []string
	Env   []string
	Dir   string
	Files []uintptr // fd i of the command is Files[i]; no other fd is passed
	// Cgroup places the command into its cgroup as it starts.
	Cgroup Placement
	// Rlimits are set for the command (and, unless AfterStart, for the
	// calling process too, just before the fork).
	Rlimits []Rlimit
	// CgroupNamespace gives the command a new cgroup namespace rooted at
	// its own cgroup, so it sees itself at "/". The calling thread needs
	// CAP_SYS_ADMIN (DropPrivileges leaves it; execve then drops it).
	CgroupNamespace bool
	// IPCNamespace gives the command a new IPC namespace of its own (a
	// reused sandbox's runs do not share SysV objects). The calling thread
	// needs CAP_SYS_ADMIN, as for CgroupNamespace.
	IPCNamespace bool
}

// Placement says how the command enters its cgroup.
type Placement struct {
	// Dir is a cgroup v2 directory fd: the command is born in that cgroup
	// (clone3 with CLONE_INTO_CGROUP). -1 or 0 means none.
	Dir int
	// Enter and Leave are cgroup v1 "tasks" files: the calling thread
	// moves itself into each Enter file's cgroup, forks, and moves itself
	// into each Leave file's, so only the child stays in the command's
	// cgroups. It writes "0", itself, which the kernel moves without
	// taking its global cgroup_threadgroup_rwsem (a pid, even its own tid,
	// costs an RCU grace period: milliseconds).
	Enter, Leave []int
}

// Rlimit is a resource limit (unix.RLIMIT_*).
type Rlimit struct {
	Resource int
	Cur, Max uint64
	// AfterStart sets the limit on the command right after it has started,
	// for limits the calling process cannot live with itself (RLIMIT_AS).
	AfterStart bool
}

// Start forks and executes c in a new session. Privileges dropped on the
// calling thread are inherited; so are its cgroups, moved as c.Cgroup says.
func Start(c *Command) (int, error) {
	if c.Dir != "" {
		// The directory is resolved inside the root, with no magic link
		// (/proc/self/fd/N) allowed: an fd of the init (a cgroup directory,
		// say) must not become the command's cwd (CVE-2024-21626's kind).
		root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, &Error{Step: "chdir", Path: "/", Err: err}
		}
		fd, err := unix.Openat2(root, c.Dir, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		unix.Close(root)
		if err != nil {
			return 0, &Error{Step: "chdir", Path: c.Dir, Err: err}
		}
		err = unix.Fchdir(fd)
		unix.Close(fd)
		if err != nil {
			return 0, &Error{Step: "chdir", Path: c.Dir, Err: err}
		}
	}
	for _, r := range c.Rlimits {
		if !r.AfterStart {
			// syscall.Setrlimit, not unix.Prlimit: for RLIMIT_NOFILE it also
			// stops ForkExec's child from restoring Go's start-up limit.
			if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Cur, Max: r.Max}); err != nil {
				return 0, &Error{Step: "rlimit", Path: strconv.Itoa(r.Resource), Err: err}
			}
		}
	}
	sys := &syscall.SysProcAttr{Setsid: true}
	if c.CgroupNamespace {
		sys.Unshareflags = syscall.CLONE_NEWCGROUP // in the child, once it is in its cgroup
	}
	if c.IPCNamespace {
		sys.Unshareflags |= syscall.CLONE_NEWIPC
	}
	if c.Cgroup.Dir > 0 {
		sys.UseCgroupFD, sys.CgroupFD = true, c.Cgroup.Dir
	}
	self := []byte("0") // see Placement
	for _, fd := range c.Cgroup.Enter {
		if _, err := unix.Write(fd, self); err != nil {
			return 0, &Error{Step: "enter cgroup", Err: err}
		}
	}
	pid, err := syscall.ForkExec(c.Path, c.Args, &syscall.ProcAttr{Env: c.Env, Files: c.Files, Sys: sys})
	for _, fd := range c.Cgroup.Leave {
		unix.Write(fd, self)
	}
	if err != nil {
		// The errno may be the clone's (cgroup placement, namespaces) rather
		// than the exec's: a command that is there and executable did not
		// fail to exec for ENOENT or EACCES.
		if st, serr := os.Stat(c.Path); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 &&
			(err == syscall.ENOENT || err == syscall.EACCES) {
			return 0, &Error{Step: "start", Path: c.Path, Err: err}
		}
		return 0, &Error{Step: "exec", Path: c.Path, Err: err}
	}
	for _, r := range c.Rlimits {
		if r.AfterStart {
			if err := unix.Prlimit(pid, r.Resource, &unix.Rlimit{Cur: r.Cur, Max: r.Max}, nil); err != nil {
				unix.Kill(pid, unix.SIGKILL)
				return 0, &Error{Step: "rlimit", Path: strconv.Itoa(r.Resource), Err: err}
			}
		}
	}
	return pid, nil
}
