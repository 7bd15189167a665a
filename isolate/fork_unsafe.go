package isolate

// A fork and exec of our own, for the one step syscall.ForkExec has no
// place for: landlock_restrict_self in the child, just before execve.

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Go runtime's own hooks around a fork, which package syscall uses
// and the runtime keeps for callers outside it (go.dev/issue/67401):
// BeforeFork blocks signals and makes any stack growth a crash (the child
// must not allocate); AfterFork undoes that in the parent; AfterForkInChild
// resets the runtime's signal handlers and restores the signal mask.

//go:linkname runtimeBeforeFork syscall.runtime_BeforeFork
func runtimeBeforeFork()

//go:linkname runtimeAfterFork syscall.runtime_AfterFork
func runtimeAfterFork()

//go:linkname runtimeAfterForkInChild syscall.runtime_AfterForkInChild
func runtimeAfterForkInChild()

// cloneArgs is struct clone_args, up to its cgroup field (Linux 5.7).
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls, setTID, setTIDSize, cgroup uint64
}

// forkSpec is what the child of forkExec does, prepared before the fork:
// the child may only make raw system calls.
type forkSpec struct {
	path    *byte
	argv    []*byte // nil-terminated
	envv    []*byte // nil-terminated
	files   []int   // fd i of the command is files[i]
	high    int     // set by forkExec: above every fd the child moves
	unshare uintptr // CLONE_NEW* flags to unshare after setsid
	cgroup  int     // cgroup v2 directory fd to be born in, or -1
	ruleset int     // Landlock ruleset to restrict the child to, or -1
	ctty    bool    // make fd 0 the controlling terminal
	nofile  *unix.Rlimit
}

// forkExec starts the command s describes, as syscall.ForkExec does with
// Setsid, Unshareflags and CgroupFD, and restricts it with s.ruleset
// before the execve. It returns the pid, or the child's errno.
func forkExec(s *forkSpec) (int, error) {
	// Other threads must not fork while a pipe end without close-on-exec
	// could leak: package syscall's lock, which every fork in Go takes.
	syscall.ForkLock.Lock()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		syscall.ForkLock.Unlock()
		return 0, err
	}
	s.high = max(s.high, len(s.files), p[0], p[1]) + 1
	for _, f := range s.files {
		s.high = max(s.high, f+1)
	}
	pid, errno := forkChild(s, p[1])
	unix.Close(p[1])
	syscall.ForkLock.Unlock()
	if errno != 0 {
		unix.Close(p[0])
		return 0, errno
	}
	// The child writes its errno here if it fails; the execve closes the
	// pipe otherwise.
	var buf [8]byte
	n, err := readFull(p[0], buf[:])
	unix.Close(p[0])
	if err != nil || n > 0 {
		var wstatus unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &wstatus, 0, nil); err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return 0, err
		}
		if n < len(buf) {
			return 0, unix.EPIPE // a short report: the child died writing it
		}
		return 0, syscall.Errno(*(*uintptr)(unsafe.Pointer(&buf[0])))
	}
	return pid, nil
}

// readFull reads into b until it is full, EOF or an error.
func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// forkChild forks as syscall.ForkExec does, with CLONE_VM|CLONE_VFORK where
// vforkSyscall is written for the architecture (cloneShared: a full fork
// costs the init a copy of its page tables and then a fault per page it
// writes; measured, twice the start of /bin/true), and, in the
// child, makes only raw system calls until execve: the Landlock
// restriction, setsid, unshare, the open-files limit, the fds, execve. A
// failing step writes its errno to the pipe and exits. The child runs on
// the parent's stack and memory while the parent waits: it never returns
// from this frame, and the parent uses nothing of the frame but the
// clone's results.
//
//go:noinline
//go:norace
//go:nocheckptr
func forkChild(s *forkSpec, pipe int) (pid int, errno syscall.Errno) {
	var (
		r1   uintptr
		err1 syscall.Errno
		i    int
		fd   uintptr
		args cloneArgs
	)
	args.flags = cloneShared
	args.exitSignal = uint64(unix.SIGCHLD)
	if s.cgroup >= 0 {
		args.flags |= unix.CLONE_INTO_CGROUP
		args.cgroup = uint64(s.cgroup)
	}
	runtimeBeforeFork()
	if s.cgroup >= 0 {
		r1, err1 = vforkSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
	} else {
		r1, err1 = vforkSyscall(unix.SYS_CLONE, uintptr(args.flags|args.exitSignal), 0, 0)
	}
	if err1 != 0 || r1 != 0 {
		runtimeAfterFork()
		return int(r1), err1
	}

	// The child.
	runtimeAfterForkInChild()
	if s.ruleset >= 0 {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(s.ruleset), 0, 0); err1 != 0 {
			goto fail
		}
	}
	if _, _, err1 = syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); err1 != 0 {
		goto fail
	}
	if s.unshare != 0 {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_UNSHARE, s.unshare, 0, 0); err1 != 0 {
			goto fail
		}
	}
	if s.nofile != nil {
		if _, _, err1 = syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(s.nofile)), 0, 0, 0); err1 != 0 {
			goto fail
		}
	}
	// The fds: first every one (and the pipe) above all of them, then each
	// down to its place, without close-on-exec.
	r1, _, err1 = syscall.RawSyscall(unix.SYS_FCNTL, uintptr(pipe), unix.F_DUPFD_CLOEXEC, uintptr(s.high))
	if err1 != 0 {
		goto fail
	}
	pipe = int(r1)
	for i = 0; i < len(s.files); i++ {
		r1, _, err1 = syscall.RawSyscall(unix.SYS_FCNTL, uintptr(s.files[i]), unix.F_DUPFD_CLOEXEC, uintptr(s.high))
		if err1 != 0 {
			goto fail
		}
		s.files[i] = int(r1)
	}
	for i = 0; i < len(s.files); i++ {
		fd = uintptr(s.files[i])
		if _, _, err1 = syscall.RawSyscall(unix.SYS_DUP3, fd, uintptr(i), 0); err1 != 0 {
			goto fail
		}
	}
	if s.ctty {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0); err1 != 0 {
			goto fail
		}
	}
	_, _, err1 = syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(s.path)),
		uintptr(unsafe.Pointer(&s.argv[0])), uintptr(unsafe.Pointer(&s.envv[0])))

fail:
	syscall.RawSyscall(unix.SYS_WRITE, uintptr(pipe), uintptr(unsafe.Pointer(&err1)), unsafe.Sizeof(err1))
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 253, 0, 0)
	}
}

// startRestricted starts c as syscall.ForkExec would with sys (Setsid,
// Unshareflags, CgroupFD, Setctty with fd 0), restricted to the Landlock ruleset c.Landlock.
func startRestricted(c *Command, sys *syscall.SysProcAttr) (int, error) {
	path, err := syscall.BytePtrFromString(c.Path)
	if err != nil {
		return 0, err
	}
	argv, err := syscall.SlicePtrFromStrings(c.Args)
	if err != nil {
		return 0, err
	}
	envv, err := syscall.SlicePtrFromStrings(c.Env)
	if err != nil {
		return 0, err
	}
	s := &forkSpec{path: path, argv: argv, envv: envv, unshare: sys.Unshareflags, cgroup: -1, ruleset: c.Landlock, ctty: sys.Setctty}
	for _, f := range c.Files {
		s.files = append(s.files, int(f))
	}
	if sys.UseCgroupFD {
		s.cgroup = sys.CgroupFD
	}
	s.nofile = goRaisedNofile(c.Rlimits)
	return forkExec(s)
}

// goRaisedNofile returns the open-files limit a command gets when the
// caller sets none, or nil to inherit the calling process's. The Go
// runtime raises its own soft limit to the hard limit less one at start,
// and syscall.ForkExec gives a child back the soft limit from before that,
// which it alone knows: this gives 1024 (the usual default, and the most
// select(2) can use) wherever the runtime raised it, which is the same
// on hosts with the usual 1024.
func goRaisedNofile(rlimits []Rlimit) *unix.Rlimit {
	for _, r := range rlimits {
		if r.Resource == unix.RLIMIT_NOFILE {
			return nil // set (on the calling process too, unless AfterStart)
		}
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Max <= 1024 || lim.Cur != lim.Max-1 {
		return nil
	}
	return &unix.Rlimit{Cur: 1024, Max: lim.Max}
}
