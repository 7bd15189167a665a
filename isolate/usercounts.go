package isolate

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// The kernel counts some objects per user, not per cgroup: inotify
// instances and watches, fanotify groups and marks, namespaces. Since the
// sandbox's uid outside is the caller's, a command could take all of the
// caller's share and leave none to the caller's own programs or other
// sandboxes. Each count is also kept per user namespace, charged to the
// namespace and to every one above it, and a namespace's limit
// (/proc/sys/user/max_*) holds whatever the limits above it allow: so a
// limit set in the sandbox's own user namespace bounds what the sandbox can
// take from the caller, whose own limit is untouched.
//
// The defaults below are a sandbox's most; the host side takes at most a
// quarter of the caller's own limit (see UserCount). The kernel's usual
// per-user limits are 128 inotify instances and 8,192 to 1,048,576 watches
// (scaled by memory; 192,546 on a 24 GiB machine), 128 fanotify groups.
// 65,536 watches are enough for a development server watching a large
// tree; each watch also costs about 1 KiB of kernel memory, which the
// cgroup's memory limit counts.
const (
	MaxInotifyInstances = 32    // inotify_init1 per sandbox
	MaxInotifyWatches   = 65536 // inotify_add_watch per sandbox
	MaxFanotifyGroups   = 16    // fanotify_init per sandbox
	MaxFanotifyMarks    = 65536 // fanotify_mark per sandbox
)

// UserCount is a limit in /proc/sys/user of the sandbox's user namespace.
type UserCount struct {
	Name string // the file: max_inotify_watches
	Max  int
}

// UserCountDefaults are the per-user counts a sandbox bounds, with their
// defaults.
var UserCountDefaults = []UserCount{
	{"max_inotify_instances", MaxInotifyInstances},
	{"max_inotify_watches", MaxInotifyWatches},
	{"max_fanotify_groups", MaxFanotifyGroups},
	{"max_fanotify_marks", MaxFanotifyMarks},
}

// LimitUserCounts sets the limits in the current user namespace, and with
// noUserNamespaces sets user.max_user_namespaces to 0 so that no process in
// it can create another (clone3's flags cannot be checked by a seccomp
// filter). It must run in the sandbox's user namespace, as its root, before
// /proc/sys is made read-only; the limits are this namespace's, not the
// host's. A limit the kernel does not have (no inotify, no fanotify) is
// skipped.
func LimitUserCounts(limits []UserCount, noUserNamespaces bool) error {
	if noUserNamespaces {
		limits = append(limits[:len(limits):len(limits)], UserCount{"max_user_namespaces", 0})
	}
	for _, l := range limits {
		p := "/proc/sys/user/" + l.Name
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT && l.Name != "max_user_namespaces" {
			continue
		}
		if err != nil {
			return stepErr("limit user counts", p, err)
		}
		_, err = unix.Write(fd, []byte(strconv.Itoa(l.Max)+"\n"))
		unix.Close(fd)
		if err != nil {
			return stepErr("limit user counts", p, err)
		}
	}
	return nil
}
