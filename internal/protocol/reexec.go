package protocol

// How the host re-executes its binary as the sandbox's init, or as the
// probe, and how the init finds its sockets.

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// InitAttr is how the init (and the probe) is started: in new user, pid,
// mount, IPC, UTS and cgroup namespaces, and with newNet a new network
// namespace; with the caller's uid and gid mapped to 0 (a one-line map of
// its own ids, setgroups denied: all an unprivileged caller may write); in
// a session of its own; and killed when the thread that started it exits
// (Pdeathsig: start it from a locked thread).
func InitAttr(newNet bool) *syscall.SysProcAttr {
	flags := syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC |
		syscall.CLONE_NEWUTS | syscall.CLONE_NEWCGROUP
	if newNet {
		flags |= syscall.CLONE_NEWNET
	}
	return &syscall.SysProcAttr{
		Cloneflags:                 uintptr(flags),
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
		Setsid:                     true,
	}
}

// ProbeCommand is this binary re-executed into a sandbox's namespaces
// (InitAttr, with a network namespace), exiting at once with EnvProbe:
// the check that user namespaces work here, and the floor of the re-exec
// design in the benchmarks. It dies with the thread that starts it.
func ProbeCommand() *exec.Cmd {
	return &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"corral-probe"},
		Env:         []string{EnvProbe + "=1"},
		SysProcAttr: InitAttr(true),
	}
}

// ProbeOverlay is the value of EnvProbe that makes the probe mount an
// overlay (isolate.ProbeOverlay) before it exits: 0 if it could, else
// OverlayRefused or OverlayNoXattr with the reason on stderr.
const ProbeOverlay = "overlay"

// The exit codes of an overlay probe that failed: the kernel refused the
// overlay, or mounted it without extended attributes in its upper layer
// (isolate.ErrOverlayNoXattr).
const (
	OverlayRefused = 3
	OverlayNoXattr = 4
)

// OverlayProbeCommand is ProbeCommand, asking the probe to mount an overlay
// the way an image's root is (Check's "overlay").
func OverlayProbeCommand() *exec.Cmd {
	c := ProbeCommand()
	c.Env = []string{EnvProbe + "=" + ProbeOverlay}
	return c
}

// Marker is the environment entry that makes a re-executed binary the
// sandbox's init: EnvMarker, naming the fds of the protocol socket (conn)
// and of the fd socket (files) the init finds open.
func Marker(conn, files int) string {
	return EnvMarker + "=" + strconv.Itoa(conn) + "," + strconv.Itoa(files)
}

// ParseMarker returns the fds a Marker's value names.
func ParseMarker(value string) (conn, files int, err error) {
	c, f, ok := strings.Cut(value, ",")
	conn, cerr := strconv.Atoi(c)
	files, ferr := strconv.Atoi(f)
	if !ok || cerr != nil || ferr != nil || conn < 3 || files < 3 || conn == files {
		return 0, 0, fmt.Errorf("protocol: marker %q does not name two fds past stderr", value)
	}
	return conn, files, nil
}
