package sandbox

// Booting a sandbox: its resources, its init started with the spec. The
// init builds the sandbox while the caller goes on; a run hands it its
// command (Process.startCommand), a pool waits for it to be ready first.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// boot creates a sandbox's resources and starts its init with them; ctx
// bounds the opening of Options.Image.
func (s *Sandbox) boot(ctx context.Context) (*booted, error) {
	res, err := s.newResources()
	if err != nil {
		return nil, err
	}
	res.degraded = append(res.degraded, s.landlockNotes...)
	b, err := s.startInit(ctx, res, false)
	if err != nil {
		res.close()
		return nil, err
	}
	return b, nil
}

// startInit starts a new sandbox's init with res and sends it the spec. It
// does not wait for the init to build the sandbox: the run (or the pool's
// filler) does, with awaitReady. A live init (Spec.Live) serves a Box.
// With Options.Image, the image is opened first (with ctx) and closed
// when the booted sandbox is reaped, or here if no init starts.
func (s *Sandbox) startInit(ctx context.Context, res *resources, live bool) (*booted, error) {
	var im *bootImage
	if s.opts.Image != "" {
		var err error
		if im, err = s.openImage(ctx); err != nil {
			return nil, err
		}
	}
	b, err := s.startInitOn(im, res, live)
	if b == nil {
		im.close()
	}
	return b, err
}

// startInitOn is startInit once the image, if any, is open: im is the
// booted sandbox's once it is returned.
func (s *Sandbox) startInitOn(im *bootImage, res *resources, live bool) (*booted, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: socketpair: %w", err)
	}
	// The host's end is non-blocking, so that its reader, which waits for
	// the init's messages for the sandbox's whole life, holds no thread.
	// The init's end is a description of its own, and stays blocking.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("sandbox: socketpair: %w", err)
	}
	hostEnd := os.NewFile(uintptr(fds[0]), "corral-host")
	childEnd := os.NewFile(uintptr(fds[1]), "corral-init")
	defer childEnd.Close()
	hostFiles, childFiles, err := protocol.FilesSocketpair()
	if err != nil {
		hostEnd.Close()
		return nil, err
	}
	defer childFiles.Close()
	spec := s.spec // a copy: this init's rlimits and filter go into it
	spec.Live = live
	if im != nil {
		spec.Root = s.rootSpec(im)
	}
	spec.Rlimits = protocol.WireRlimits(append(s.rlimits(), res.rlimits...))

	init := s.initCmd(childEnd, childFiles)
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
	// Pdeathsig fires when the thread that started the child exits, so the
	// start happens on a locked thread; Go keeps unlocked threads alive.
	runtime.LockOSThread()
	err = init.Start()
	runtime.UnlockOSThread()
	if err != nil {
		hostEnd.Close()
		hostFiles.Close()
		if f, _ := Check().Feature("user namespaces"); !f.Available {
			return nil, usernsError(err)
		}
		return nil, fmt.Errorf("sandbox: start init: %w", err)
	}
	b := newBooted(s, init, hostEnd, hostFiles, res)
	b.live = live
	b.image = im
	b.startHostFiles()
	go b.read()
	// The spec goes while the init starts (it reads it as soon as its
	// runtime is up); waiting for the filter only now lets a first Run's
	// init start while New's compile finishes.
	spec.Filter, err = s.filter()
	if err == nil && s.initQuery != nil {
		err = s.initQuery() // an Options.Init of another version: its init is killed unheard
	}
	if err == nil {
		if err = b.send(protocol.Message{Spec: &spec}); err != nil {
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
				// The init is gone already: say how it ended.
				if m, ok := <-b.answers; !ok && b.readError() == io.EOF {
					return nil, b.answer(m, ok)
				}
			}
			err = fmt.Errorf("sandbox: send spec to init: %w", err)
		}
	}
	if err != nil {
		return nil, b.fail(err)
	}
	return b, nil
}

// initCmd is the re-execution of this binary (or the Options.Init binary)
// that becomes the sandbox's pid 1. Its stdio is /dev/null; sock, the protocol socket, is its fd 3
// and files, the fd socket, fd 4 (both named by the marker).
func (s *Sandbox) initCmd(sock, files *os.File) *exec.Cmd {
	return &exec.Cmd{
		Path:        s.initPath(),
		Args:        []string{"corral-init"},
		Env:         []string{protocol.Marker(3, 4)},
		ExtraFiles:  []*os.File{sock, files}, // fds 3 and 4
		SysProcAttr: protocol.InitAttr(s.opts.Network != NetworkHost),
	}
}
