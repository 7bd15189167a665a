package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// Sandbox runs commands, each in a new sandbox built from the same Options.
// A Sandbox is safe for concurrent use.
type Sandbox struct {
	opts          Options
	mounts        []isolate.Mount
	filter        []byte                 // the compiled seccomp filter, nil when disabled
	caps          []int                  // capabilities the command keeps
	landlockRules []isolate.LandlockRule // nil: no Landlock
	landlockNote  string                 // what LandlockAuto could not do here
	capNames      []string               // and their names
	err           error                  // from validation; returned by every Run
}

// New returns a Sandbox for opts. The options are validated here, once; an
// invalid option makes every Run fail with an *OptionError naming the field.
func New(opts Options) *Sandbox {
	opts.Mounts = append([]Mount(nil), opts.Mounts...)
	s := &Sandbox{opts: opts}
	if s.err = s.opts.validate(); s.err != nil {
		return s
	}
	s.mounts = s.opts.plan(os.Lstat, os.Readlink)
	canonicalSources(s.mounts)
	if s.opts.Root != "" {
		if root, err := filepath.EvalSymlinks(s.opts.Root); err == nil {
			s.opts.Root = root
		}
	}
	// The filter is compiled here, once, not per run: the init only installs it.
	for _, c := range s.opts.Capabilities {
		n := capability(c)
		s.caps = append(s.caps, n)
		s.capNames = append(s.capNames, isolate.CapabilityNames[n])
	}
	if s.landlockRules, s.landlockNote, s.err = s.landlock(); s.err != nil {
		return s
	}
	if s.filter, s.err = s.opts.Seccomp.compile(s.capNames); s.err != nil {
		s.err = fmt.Errorf("sandbox: Options.Seccomp: %w", s.err)
	}
	return s
}

// Run starts cmd in a new sandbox and returns once the command is running
// (or could not be started). Use the Process to wait for it.
func (s *Sandbox) Run(cmd *Cmd) (*Process, error) {
	return s.RunContext(context.Background(), cmd)
}

// RunContext is like Run, but cancelling ctx kills the whole sandbox: the
// command and every process it started.
func (s *Sandbox) RunContext(ctx context.Context, cmd *Cmd) (*Process, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !mainCalled {
		return nil, ErrMainNotCalled
	}
	if err := cmd.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := s.newResources()
	if err != nil {
		return nil, err
	}
	if s.landlockNote != "" {
		res.degraded = append(res.degraded, s.landlockNote)
	}
	p, err := s.start(ctx, cmd, res)
	if err != nil {
		res.close()
		return nil, err
	}
	return p, nil
}

// start starts the init and hands it the spec.
func (s *Sandbox) start(ctx context.Context, cmd *Cmd, res *resources) (*Process, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: socketpair: %w", err)
	}
	hostEnd := os.NewFile(uintptr(fds[0]), "corral-host")
	childEnd := os.NewFile(uintptr(fds[1]), "corral-init")
	defer childEnd.Close()

	var out *outputCap
	stdout, stderr := cmd.Stdout, cmd.Stderr
	if n := s.opts.Limits.Output; n > 0 {
		out = &outputCap{left: n, hit: make(chan struct{})}
		stdout, stderr = out.writer(stdout), out.writer(stderr)
	}
	cgFiles, placement := res.files(3 + len(cmd.ExtraFiles))
	init := s.initCmd(cmd, stdout, stderr, append(cgFiles, childEnd))
	// A Stdin that is not a file is copied through a pipe of our own, not
	// os/exec's: its copy must not keep Wait waiting in the caller's Read
	// once the sandbox has ended.
	var stdinPipe *os.File
	if cmd.Stdin != nil {
		if _, isFile := cmd.Stdin.(*os.File); !isFile {
			r, w, err := os.Pipe()
			if err != nil {
				hostEnd.Close()
				return nil, fmt.Errorf("sandbox: stdin pipe: %w", err)
			}
			defer r.Close()
			init.Stdin, stdinPipe = r, w
		}
	}
	if res.cg != nil {
		// The init stays in the host's cgroup namespace, from which the
		// sandbox's cgroup is reachable (cgroup v2 with nsdelegate allows
		// moves only within a namespace); the command gets its own
		// namespace, rooted at its cgroup.
		init.SysProcAttr.Cloneflags &^= unix.CLONE_NEWCGROUP
		if fd := res.cg.InitFD(); fd != nil {
			init.SysProcAttr.UseCgroupFD = true
			init.SysProcAttr.CgroupFD = int(fd.Fd())
		}
	}
	start := time.Now()
	// Pdeathsig fires when the thread that started the child exits, so the
	// start happens on a locked thread; Go keeps unlocked threads alive.
	runtime.LockOSThread()
	err = init.Start()
	runtime.UnlockOSThread()
	if err != nil {
		hostEnd.Close()
		if stdinPipe != nil {
			stdinPipe.Close()
		}
		if f, _ := Check().Feature("user namespaces"); !f.Available {
			return nil, usernsError(err)
		}
		return nil, fmt.Errorf("sandbox: start init: %w", err)
	}
	childEnd.Close()
	p := newProcess(init, hostEnd, start, res, out, s.opts.Limits)
	if stdinPipe != nil {
		p.stdin = stdinPipe
		go func() {
			io.Copy(stdinPipe, cmd.Stdin)
			stdinPipe.Close()
		}()
	}
	p.watch(ctx) // from here on, cancelling ctx kills the sandbox, set-up included
	if res.cg != nil {
		if err := res.cg.AddInit(init.Process.Pid); err != nil {
			p.abort()
			return nil, fmt.Errorf("sandbox: moving init into cgroup %s: %w", res.cg.Path(), err)
		}
	}
	spec := s.spec(cmd)
	spec.Cgroup, spec.Rlimits = placement, append(s.rlimits(), res.rlimits...)
	spec.Filter, spec.Capabilities = s.filter, s.caps
	spec.Landlock = s.landlockRules
	if err := p.handshake(spec); err != nil {
		p.stopWatch()
		if ctxErr := p.contextErr(); ctxErr != nil {
			return nil, fmt.Errorf("sandbox: set-up interrupted: %w", ctxErr)
		}
		return nil, err
	}
	if res.cg != nil {
		if err := res.cg.Settle(); err != nil {
			p.Kill()
			p.Wait()
			return nil, fmt.Errorf("sandbox: cgroup %s: %w", res.cg.Path(), err)
		}
	}
	p.enforce()
	return p, nil
}

// initCmd is the re-execution of this binary that becomes the sandbox's pid 1.
// extra are the files it gets after the command's ExtraFiles, the protocol
// socket last.
func (s *Sandbox) initCmd(cmd *Cmd, stdout, stderr io.Writer, extra []*os.File) *exec.Cmd {
	flags := unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP
	if s.opts.Network == NetworkNone {
		flags |= unix.CLONE_NEWNET
	}
	extra = append(cmd.ExtraFiles[:len(cmd.ExtraFiles):len(cmd.ExtraFiles)], extra...)
	return &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"corral-init"},
		Env:        []string{protocol.EnvMarker + "=" + strconv.Itoa(2+len(extra))},
		Stdin:      cmd.Stdin,
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:                 uintptr(flags),
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			GidMappingsEnableSetgroups: false,
			Pdeathsig:                  syscall.SIGKILL,
			Setsid:                     true,
		},
	}
}

// spec is what the init needs to know.
func (s *Sandbox) spec(cmd *Cmd) *protocol.Spec {
	args := cmd.Args
	if len(args) == 0 {
		args = []string{cmd.Path}
	}
	env := append([]string(nil), cmd.Env...)
	if !hasKey(env, "PATH") {
		env = append(env, "PATH="+isolate.DefaultPath)
	}
	dir := cmd.Dir
	if dir == "" {
		dir = WorkDir
	}
	hostname := s.opts.Hostname
	if hostname == "" {
		hostname = defaultHostname
	}
	return &protocol.Spec{
		Version:  protocol.Version,
		Hostname: hostname,
		Loopback: s.opts.Network == NetworkNone,
		Root:     isolate.Root{Dir: s.opts.Root},
		Mounts:   s.mounts,
		Command: protocol.Command{
			Path: cmd.Path, Args: args, Env: env, Dir: dir, ExtraFiles: len(cmd.ExtraFiles),
		},
	}
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			return true
		}
	}
	return false
}

// rlimits are the Options.Rlimits for the init to set.
func (s *Sandbox) rlimits() []isolate.Rlimit {
	r := s.opts.Rlimits
	core := uint64(r.Core)
	out := []isolate.Rlimit{{Resource: unix.RLIMIT_CORE, Cur: core, Max: core}}
	add := func(res int, v uint64) {
		if v > 0 {
			out = append(out, isolate.Rlimit{Resource: res, Cur: v, Max: v})
		}
	}
	add(unix.RLIMIT_NOFILE, r.OpenFiles)
	add(unix.RLIMIT_FSIZE, uint64(r.FileSize))
	add(unix.RLIMIT_STACK, uint64(r.Stack))
	return out
}

// canonicalSources resolves the symlinks in the mounts' host paths now,
// once: the init opens them without following any, so that a symlink
// swapped into a path later cannot redirect a bind.
func canonicalSources(ms []isolate.Mount) {
	for i, m := range ms {
		if m.Kind != isolate.Bind && m.Kind != isolate.Device {
			continue
		}
		if p, err := filepath.EvalSymlinks(m.Source); err == nil {
			ms[i].Source = p
		}
	}
}
