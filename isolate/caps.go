package isolate

import (
	"golang.org/x/sys/unix"
)

// secure bits that keep a uid-0 process from regaining capabilities on exec,
// each locked so the command cannot undo it.
const securebits = 1<<0 | 1<<1 | // SECBIT_NOROOT, _LOCKED
	1<<2 | 1<<3 | // SECBIT_NO_SETUID_FIXUP, _LOCKED
	1<<5 | // SECBIT_KEEP_CAPS_LOCKED
	1<<6 | 1<<7 // SECBIT_NO_CAP_AMBIENT_RAISE, _LOCKED

// DropPrivileges empties the bounding, ambient and inheritable capability
// sets, locks the secure bits so that exec as uid 0 grants nothing, sets
// no_new_privs and makes the process not dumpable (so the command cannot
// ptrace it or open its /proc files). The calling thread keeps its own
// permitted and effective sets, which Start's child needs for its last
// steps (a new cgroup namespace) and the thread may need between commands
// (the sandbox's launcher unshares a new IPC namespace before each run of a
// reused sandbox); execve then starts each command with every set empty.
// Nothing clears them: they are the thread's, which the command cannot
// reach (the process is not dumpable), and they die with it.
//
// Capabilities and no_new_privs belong to a thread: call it on a thread
// locked with runtime.LockOSThread and start the command from that thread.
//
// keep lists capabilities (numbers, see CapabilityNames) the command keeps:
// they stay in its bounding and inheritable sets and are raised as ambient
// capabilities, which survive execve.
func DropPrivileges(keep ...int) error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return stepErr("drop privileges", "dumpable", err)
	}
	kept := func(c int) bool {
		for _, k := range keep {
			if k == c {
				return true
			}
		}
		return false
	}
	for c := 0; ; c++ {
		if kept(c) {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if err == unix.EINVAL {
			break // past the last capability this kernel knows
		}
		if err != nil {
			return stepErr("drop privileges", "bounding set", err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return stepErr("drop privileges", "ambient set", err)
	}
	bits := uintptr(securebits)
	if len(keep) > 0 {
		bits &^= 1<<6 | 1<<7 // ambient capabilities carry the kept ones across execve
	}
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, bits, 0, 0, 0); err != nil {
		return stepErr("drop privileges", "securebits", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return stepErr("drop privileges", "capget", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	for _, c := range keep {
		data[c/32].Inheritable |= 1 << (c % 32)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return stepErr("drop privileges", "capset", err)
	}
	for _, c := range keep {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return stepErr("drop privileges", "ambient "+CapabilityNames[c], err)
		}
	}
	return stepErr("drop privileges", "no_new_privs", unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
}

// CapabilityNames are the capabilities' names, indexed by number.
var CapabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}
