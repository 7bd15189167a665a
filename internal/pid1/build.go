package pid1

// The set-up's steps, before the launcher thread: they build the sandbox
// from the spec, on any thread.

import (
	"errors"
	"os"
	"runtime"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// nameInit names the init, on the main thread (locked to main since the
// package's init), whose name is what ps and /proc/1/comm show; then main
// is free to move: waking a goroutine locked to a thread costs a thread
// hand-off on every message.
func nameInit() {
	os.Unsetenv(protocol.EnvMarker)
	isolate.SetName("corral-init")
	runtime.UnlockOSThread()
}

// openSockets opens the protocol socket and the fd socket, whose fds the
// marker names (protocol.Marker). Nothing of ours may survive into the
// command: every fd but the /dev/null stdio is made close-on-exec first
// (the sockets, the cgroup fds, and anything C code or the runtime
// opened); the command's own files come with Exec and are placed by the
// fork.
func (s *state) openSockets(marker string) error {
	conn, files, err := protocol.ParseMarker(marker)
	if err != nil {
		return err
	}
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	s.conn = protocol.NewConn(os.NewFile(uintptr(conn), "corral-init"))
	s.files = files
	return nil
}

// readSpec reads the spec, the host's first message, and takes its
// isolate values.
func (s *state) readSpec() error {
	m, err := s.conn.Recv()
	if err != nil {
		return err
	}
	if m.Spec == nil {
		return errors.New("pid1: the host's first message is not the spec")
	}
	s.spec = m.Spec
	s.root = protocol.IsolateRoot(s.spec.Root)
	s.mounts = protocol.IsolateMounts(s.spec.Mounts)
	s.userCounts = protocol.IsolateUserCounts(s.spec.UserCounts)
	s.rlimits = protocol.IsolateRlimits(s.spec.Rlimits)
	s.landlock = protocol.IsolateLandlock(s.spec.Landlock)
	return nil
}

// limitUserCounts sets the per-user counts of the sandbox's user
// namespace. With a filter, no user namespace may be created inside this
// one at all: clone3's flags are out of the filter's reach.
func (s *state) limitUserCounts() error {
	return isolate.LimitUserCounts(s.userCounts, s.spec.Filter != nil)
}

// makePrivate makes mount propagation private, so nothing reaches the host.
func (s *state) makePrivate() error { return isolate.MakePrivate() }

// openSources opens the mounts' sources, before anything is mounted over
// them.
func (s *state) openSources() (err error) {
	s.src, err = isolate.OpenSources(s.root, s.mounts)
	return err
}

// buildRoot builds the new root, staged on /tmp (or, without one, /proc:
// everything is opened already; any directory will do; but an image's
// overlay names its layers by /proc/self/fd paths, so there the image is
// copied instead).
func (s *state) buildRoot() error {
	s.staging = "/tmp"
	if _, err := os.Stat(s.staging); err != nil {
		s.staging = "/proc"
		s.root.Copy = s.root.Image
	}
	return isolate.BuildRoot(s.staging, s.root, s.mounts, s.src)
}

// pivot makes the new root the sandbox's; the old root is detached.
func (s *state) pivot() error { return isolate.PivotRoot(s.root.Staged(s.staging)) }

// setHostname sets the hostname of the sandbox's UTS namespace.
func (s *state) setHostname() error { return isolate.SetHostname(s.spec.Hostname) }

// loopbackUp brings up lo in the sandbox's new network namespace (none
// when the sandbox shares the host's).
func (s *state) loopbackUp() error {
	if !s.spec.Loopback {
		return nil
	}
	return isolate.LoopbackUp()
}
