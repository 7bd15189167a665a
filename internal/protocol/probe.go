package protocol

import (
	"os"
	"os/exec"
	"syscall"
)

// ProbeCommand is this binary re-executed into a sandbox's namespaces
// (the same clone flags and id maps), exiting at once with EnvProbe: the
// check that user namespaces work here, and the floor of the re-exec
// design in the benchmarks. It dies with the thread that starts it.
func ProbeCommand() *exec.Cmd {
	return &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{"corral-probe"},
		Env:  []string{EnvProbe + "=1"},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS |
				syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWCGROUP,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			Pdeathsig:   syscall.SIGKILL,
		},
	}
}
