package isolate

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/corral-dev/corral/internal/paths"
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
	path, ok := paths.Lookup(env, "PATH")
	if !ok {
		path = DefaultPath
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
	// Landlock is a Landlock ruleset fd (Ruleset.For) that the command
	// restricts itself to just before its execve, in a domain of its own
	// nested in the calling thread's; -1 or 0 means none.
	Landlock int
	// Ctty makes fd 0 (a terminal) the command's controlling terminal,
	// in the new session it starts (TIOCSCTTY).
	Ctty bool
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
		if err := chdirInside(c.Dir); err != nil {
			return 0, err
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
	sys := &syscall.SysProcAttr{Setsid: true, Setctty: c.Ctty} // Ctty 0: the child's fd 0
	if c.CgroupNamespace {
		sys.Unshareflags = syscall.CLONE_NEWCGROUP // in the child, once it is in its cgroup
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
	var pid int
	var err error
	if c.Landlock > 0 {
		pid, err = startRestricted(c, sys)
	} else {
		pid, err = syscall.ForkExec(c.Path, c.Args, &syscall.ProcAttr{Env: c.Env, Files: c.Files, Sys: sys})
	}
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
	if err := setAfterStart(pid, c.Rlimits); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 0, err
	}
	return pid, nil
}

// chdirInside makes dir, resolved from the root, the working directory,
// unless the root does not reach it: an fd of the init (a host cgroup
// directory, say) named as /proc/self/fd/N must never become the command's
// working directory (CVE-2024-21626's kind). It needs no openat2, which a
// confined caller's filter refuses: the kernel's getcwd marks a working
// directory the root does not reach "(unreachable)" (getcwd(2)), and then
// the working directory goes back to the root. The directory is opened
// with the caller's own rights. Should the caller's filter refuse getcwd
// (a caller's rule may), another thread asks: the working directory is
// the process's.
func chdirInside(dir string) error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &Error{Step: "chdir", Path: "/", Err: err}
	}
	defer unix.Close(root)
	fd, err := unix.Openat(root, dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &Error{Step: "chdir", Path: dir, Err: err}
	}
	err = unix.Fchdir(fd)
	unix.Close(fd)
	if err == nil {
		var reached bool
		if reached, err = cwdInRoot(); err != nil {
			err = onOtherThread(func() (err error) { reached, err = cwdInRoot(); return err })
		}
		if err == nil && !reached {
			err = unix.EXDEV
		}
		if err != nil {
			unix.Fchdir(root)
		}
	}
	if err != nil {
		return &Error{Step: "chdir", Path: dir, Err: err}
	}
	return nil
}

// cwdInRoot reports whether the root reaches the working directory.
func cwdInRoot() (bool, error) {
	var buf [unix.PathMax]byte
	n, err := unix.Getcwd(buf[:])
	return err == nil && n > 0 && buf[0] == '/', err // else "(unreachable)/..."
}

// onOtherThread runs f in a new goroutine and returns its error. When the
// caller is locked to its thread (the sandbox's launcher is), that is
// another thread, and one without the caller's filter or Landlock domain:
// the Go runtime starts new threads from a clean template thread, never
// from a locked one.
func onOtherThread(f func() error) error {
	done := make(chan error)
	go func() { done <- f() }()
	return <-done
}

// setAfterStart sets the AfterStart limits on the process pid. Another
// thread does it: the calling thread may be confined by a filter that
// lets a process set no limits but its own (the sandbox's launcher is).
func setAfterStart(pid int, rlimits []Rlimit) error {
	var after []Rlimit
	for _, r := range rlimits {
		if r.AfterStart {
			after = append(after, r)
		}
	}
	if len(after) == 0 {
		return nil
	}
	return onOtherThread(func() error {
		for _, r := range after {
			if err := unix.Prlimit(pid, r.Resource, &unix.Rlimit{Cur: r.Cur, Max: r.Max}, nil); err != nil {
				return &Error{Step: "rlimit", Path: strconv.Itoa(r.Resource), Err: err}
			}
		}
		return nil
	})
}
