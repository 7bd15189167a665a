package isolate

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// LandlockRule grants access beneath Path: reading and executing always,
// writing too when Write is set, device ioctls when Devices is set.
type LandlockRule struct {
	Path    string
	Write   bool
	Devices bool
}

// LandlockABI returns the kernel's Landlock ABI version, or 0 and the
// errno (a syscall.Errno) without it: ENOSYS where the kernel lacks
// Landlock, EOPNOTSUPP where it is disabled at boot, and what a seccomp
// profile or other layer answers in their place (package sandbox's Check
// tells these apart). This is the one place that asks the kernel.
func LandlockABI() (int, error) {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, errno
	}
	return int(v), nil
}

const (
	llRead   = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_EXECUTE
	llFile   = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	llWrites = unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE
)

// handledAccess is every filesystem right the ABI knows.
func handledAccess(abi int) uint64 {
	h := uint64(0x1fff) // ABI 1: execute ... make_sym
	if abi >= 2 {
		h |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		h |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		h |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return h
}

// ScopeSignal is the Landlock scope that keeps a domain's processes from
// signalling any process outside the domain (LANDLOCK_SCOPE_SIGNAL).
const ScopeSignal = unix.LANDLOCK_SCOPE_SIGNAL

// LandlockScopes returns the Landlock scopes the kernel's ABI knows: the
// signal and abstract unix socket scopes from ABI 6 (Linux 6.12), else none.
func LandlockScopes(abi int) uint64 {
	if abi >= 6 {
		return unix.LANDLOCK_SCOPE_SIGNAL | unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
	}
	return 0
}

// Landlock restricts the calling thread (and what it starts) to the rules
// (see Ruleset for a command's own domain):
// every filesystem right the kernel's Landlock ABI knows is denied except
// where a rule grants it; with nil rules, no filesystem right is. It also
// scopes the thread's domain by scopes (ScopeSignal), of which it applies
// those the kernel knows. The thread needs no_new_privs. It returns the ABI
// used; with no Landlock it returns an error wrapping EOPNOTSUPP or ENOSYS.
//
// With nil rules the layer grants LANDLOCK_ACCESS_FS_REFER beneath /
// (where the ABI has it): Landlock denies moving or linking a file to
// another directory (EXDEV) in every layer that does not grant "refer",
// handled or not, as soon as any layer of the domain handles a filesystem
// right. A scope-only layer would otherwise make every rename and link
// across directories fail under a command's own filesystem layer (or a
// program's), even in a writable mount; this way that layer alone decides.
func Landlock(rules []LandlockRule, scopes uint64) (int, error) {
	abi, err := LandlockABI()
	if abi == 0 {
		return 0, &Error{Step: "landlock", Err: err}
	}
	handled := uint64(0)
	if rules != nil {
		handled = handledAccess(abi)
	} else if scopes&LandlockScopes(abi) != 0 && abi >= 2 {
		handled = unix.LANDLOCK_ACCESS_FS_REFER
		rules = []LandlockRule{{Path: "/", Write: true}} // all it handles: refer
	}
	attr := unix.LandlockRulesetAttr{Handled_access_fs: handled, Scoped: scopes & LandlockScopes(abi)}
	size := uintptr(8) // the ABI 1 struct, which every kernel with Landlock reads
	if attr.Scoped != 0 {
		size = 24 // up to scoped (ABI 6)
	}
	if handled == 0 && attr.Scoped == 0 {
		return abi, nil // nothing to restrict
	}
	rfd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return 0, &Error{Step: "landlock", Err: errno}
	}
	defer unix.Close(int(rfd))
	for _, r := range rules {
		fd, err := unix.Open(r.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			continue // an optional mount that was not there
		}
		if err != nil {
			return 0, &Error{Step: "landlock", Path: r.Path, Err: err}
		}
		allowed := r.allowed(handled)
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			allowed &= llFile
		}
		pb := unix.LandlockPathBeneathAttr{Allowed_access: allowed & handled, Parent_fd: int32(fd)}
		_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rfd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
		unix.Close(fd)
		if errno != 0 {
			return 0, &Error{Step: "landlock", Path: r.Path, Err: errno}
		}
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rfd, 0, 0); errno != 0 {
		return 0, &Error{Step: "landlock", Err: errno}
	}
	return abi, nil
}

// LandlockRules derives the rules that match a sandbox's mounts: the whole
// tree readable and executable, the writable mounts writable, /dev's
// devices and /proc's files usable.
func LandlockRules(mounts []Mount) []LandlockRule {
	rules := []LandlockRule{{Path: "/"}, {Path: "/proc", Devices: true}}
	for _, m := range mounts {
		switch {
		case m.Kind == Device || m.Kind == Devpts:
			rules = append(rules, LandlockRule{Path: m.Target, Devices: true})
		case (m.Kind == Tmpfs || m.Kind == Bind) && !m.ReadOnly && m.Target != "/dev":
			rules = append(rules, LandlockRule{Path: m.Target, Write: true})
		case m.Kind == Mqueue:
			// mq_open reaches the queues through the IPC namespace's own
			// internal mount of the same filesystem; Landlock finds no rule
			// there but on its root inode, which is this mount's root.
			rules = append(rules, LandlockRule{Path: m.Target, Write: true})
		}
	}
	return rules
}
