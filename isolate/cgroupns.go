package isolate

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// NewCgroupNamespace gives the calling thread a new cgroup namespace rooted
// at the command's cgroup, so that the command sees its own cgroup as "/"
// and nothing of the host's cgroup paths. On cgroup v1 (pl.Enter) the thread
// steps into the command's cgroups for the unshare and back out; on v2 the
// root is the thread's own cgroup (the init's leaf), and the command sees
// itself at "/../cmd". Call it on the thread that will run Start, before
// DropPrivileges.
func NewCgroupNamespace(pl Placement) error {
	tid := []byte(strconv.Itoa(unix.Gettid()))
	for _, fd := range pl.Enter {
		if _, err := unix.Write(fd, tid); err != nil {
			return &Error{Step: "enter cgroup", Err: err}
		}
	}
	err := unix.Unshare(unix.CLONE_NEWCGROUP)
	for _, fd := range pl.Leave {
		unix.Write(fd, tid)
	}
	return stepErr("cgroup namespace", "", err)
}
