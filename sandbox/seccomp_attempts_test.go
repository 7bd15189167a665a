package sandbox_test

// The system calls TestSeccompBlocks makes in a sandbox, with what the
// default profile and no filter give each.

import (
	"syscall"
	"unsafe"

	"github.com/corral-dev/corral/internal/testutil"
	"golang.org/x/sys/unix"
)

type errno = syscall.Errno

var attempts = []attempt{
	// Off: a fresh process may make a user namespace (unshare in a forked,
	// single-threaded child); clone3 is allowed and stopped by the sandbox's
	// user.max_user_namespaces=0 (ENOSPC), set only when the filter is on.
	{name: "unshare-newuser", def: "EPERM", off: "ok", call: func() errno { return testutil.InChild(testutil.Fork, unix.SYS_UNSHARE, unix.CLONE_NEWUSER) }},
	{name: "clone-newuser", def: "EPERM", off: "ok", call: func() errno {
		return testutil.InChild([3]uintptr{unix.SYS_CLONE, unix.CLONE_NEWUSER | uintptr(unix.SIGCHLD), 0}, unix.SYS_GETPID, 0)
	}},
	{name: "clone3-newuser", def: "ENOSPC", off: "ok", call: func() errno {
		cloneArgs[0], cloneArgs[4] = unix.CLONE_NEWUSER, uint64(unix.SIGCHLD)
		return testutil.InChild([3]uintptr{unix.SYS_CLONE3, uintptr(unsafe.Pointer(&cloneArgs)), 88}, unix.SYS_GETPID, 0)
	}},
	// setns: a uts namespace fd with CLONE_NEWNET, the wrong type.
	{name: "setns", def: "EPERM", off: "EINVAL", sys: "setns", call: func() errno {
		fd, err := unix.Open("/proc/self/ns/uts", unix.O_RDONLY, 0)
		if err != nil {
			return err.(errno)
		}
		return testutil.Syscall(unix.SYS_SETNS, fd, unix.CLONE_NEWNET)
	}},
	// The mount family. The kernel looks paths up before it checks
	// capabilities in mount and umount2, checks flags and sizes first in
	// mount_setattr and fsconfig; pivot_root, fsopen and move_mount check
	// capabilities first. open_tree without OPEN_TREE_CLONE is an O_PATH open.
	{name: "mount", def: "EPERM", off: "ENOENT", sys: "mount", call: sc(unix.SYS_MOUNT, "none", "/nonexistent", "tmpfs", 0, "")},
	{name: "umount2", def: "EPERM", off: "ENOENT", sys: "umount2", call: sc(unix.SYS_UMOUNT2, "/nonexistent", unix.MNT_DETACH)},
	{name: "pivot_root", def: "EPERM", off: "EPERM", sys: "pivot_root", call: sc(unix.SYS_PIVOT_ROOT, ".", ".")},
	{name: "open_tree", def: "EPERM", off: "ok", sys: "open_tree", call: sc(unix.SYS_OPEN_TREE, unix.AT_FDCWD, "/tmp", unix.OPEN_TREE_CLOEXEC)},
	{name: "fsopen", def: "EPERM", off: "EPERM", sys: "fsopen", call: sc(unix.SYS_FSOPEN, "tmpfs", 0)},
	{name: "fsconfig", def: "EPERM", off: "EINVAL|EBADF", sys: "fsconfig", call: sc(unix.SYS_FSCONFIG, -1, unix.FSCONFIG_CMD_CREATE, 0, 0, 0)},
	{name: "move_mount", def: "EPERM", off: "EPERM", sys: "move_mount", call: sc(unix.SYS_MOVE_MOUNT, -1, "", unix.AT_FDCWD, "/tmp", unix.MOVE_MOUNT_F_EMPTY_PATH)},
	{name: "mount_setattr", def: "EPERM", off: "EINVAL", sys: "mount_setattr", call: sc(unix.SYS_MOUNT_SETATTR, unix.AT_FDCWD, "/tmp", 0, 0, 0)}, // size 0
	{name: "keyctl", def: "EPERM", off: "ok", sys: "keyctl", call: sc(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0)},
	{name: "add_key", def: "EPERM", off: "ok", sys: "add_key", call: sc(unix.SYS_ADD_KEY, "user", "corral", "y", 1, unix.KEY_SPEC_PROCESS_KEYRING)},
	{name: "request_key", def: "EPERM", off: "ENOKEY", sys: "request_key", call: sc(unix.SYS_REQUEST_KEY, "user", "corral-none", 0, 0)},
	// bpf: a lookup in map fd -1. Before 6.5 unprivileged_bpf_disabled made
	// the kernel refuse every unprivileged bpf() with EPERM first.
	{name: "bpf", def: "EPERM", off: "EBADF|EPERM", sys: "bpf", call: sc(unix.SYS_BPF, unix.BPF_MAP_LOOKUP_ELEM, unsafe.Pointer(&bpfAttr), 32)},
	// perf: EACCES where kernel.perf_event_paranoid is 3 (Debian).
	{name: "perf_event_open", def: "EPERM", off: "ok|EACCES", sys: "perf_event_open", call: sc(unix.SYS_PERF_EVENT_OPEN, unsafe.Pointer(&perfAttr), 0, -1, -1, 0)},
	// ptrace and process_vm_readv among the command's processes (Docker's
	// profile from Linux 4.8); the calls Docker keeps for CAP_SYS_PTRACE
	// stay refused: kcmp of two of the caller's own fds, pidfd_getfd of
	// the caller's own fd 0.
	{name: "ptrace-traceme", def: "ok", off: "ok", call: func() errno { return testutil.InChild(testutil.Fork, unix.SYS_PTRACE, unix.PTRACE_TRACEME) }},
	{name: "process_vm_readv", def: "ok", off: "ok", call: sc(unix.SYS_PROCESS_VM_READV, unix.Getpid(), unsafe.Pointer(&vmIov[0]), 1, unsafe.Pointer(&vmIov[1]), 1, 0)},
	{name: "kcmp", def: "EPERM", off: "ok|ENOSYS", sys: "kcmp", call: sc(unix.SYS_KCMP, unix.Getpid(), unix.Getpid(), 0, 1, 2)}, // KCMP_FILE; ENOSYS: built without kcmp
	{name: "pidfd_getfd", def: "EPERM", off: "ok", sys: "pidfd_getfd", call: pidfdGetfd},
	{name: "userfaultfd", def: "EPERM", off: "ok", sys: "userfaultfd", call: sc(unix.SYS_USERFAULTFD, 1|unix.O_CLOEXEC)}, // UFFD_USER_MODE_ONLY
	// io_uring: EPERM where kernel.io_uring_disabled is set.
	{name: "io_uring_setup", def: "EPERM", off: "ok|EPERM", sys: "io_uring_setup", call: sc(unix.SYS_IO_URING_SETUP, 4, unsafe.Pointer(&ioParams))},
	// The kernel checks capabilities first; ENOSYS: built without kexec or modules.
	{name: "kexec_load", def: "EPERM", off: "ENOSYS|EPERM", sys: "kexec_load", call: sc(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0)},
	{name: "init_module", def: "EPERM", off: "ENOSYS|EPERM", sys: "init_module", call: sc(unix.SYS_INIT_MODULE, unsafe.Pointer(&bpfAttr), 0, "")},
	{name: "finit_module", def: "EPERM", off: "ENOSYS|EPERM", sys: "finit_module", call: sc(unix.SYS_FINIT_MODULE, -1, "", 0)},
	{name: "delete_module", def: "EPERM", off: "ENOSYS|EPERM", sys: "delete_module", call: sc(unix.SYS_DELETE_MODULE, "corral", 0)},
	{name: "reboot", def: "EPERM", off: "EPERM", sys: "reboot", call: sc(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2, unix.LINUX_REBOOT_CMD_CAD_OFF, 0)},
	{name: "swapon", def: "EPERM", off: "EINVAL|ENOSYS", sys: "swapon", call: sc(unix.SYS_SWAPON, "/nonexistent", 0x80000000)}, // bad flags
	// handle_bytes 0: EINVAL since 6.10; before, the capability check came first.
	{name: "open_by_handle_at", def: "EPERM", off: "EINVAL|EPERM", sys: "open_by_handle_at", call: sc(unix.SYS_OPEN_BY_HANDLE_AT, unix.AT_FDCWD, unsafe.Pointer(&bpfAttr), unix.O_RDONLY)},
	// TIOCSTI into the terminal the command made its controlling one: the
	// kernel allows it (EIO: dev.tty.legacy_tiocsti=0). TIOCLINUX is for
	// virtual consoles. The -high variants set bits above the 32 the kernel
	// reads; requests like that are refused, as documented.
	{name: "ioctl-tiocsti", def: "EPERM", off: "ok|EIO", tty: true, call: tiocsti(unix.TIOCSTI)},
	{name: "ioctl-tiocsti-high", def: "EPERM", off: "ok|EIO", tty: true, call: tiocsti(1<<32 | unix.TIOCSTI)},
	{name: "ioctl-tioclinux", def: "EPERM", off: "ENOTTY|EINVAL", tty: true, call: ioctl(unix.TIOCLINUX)},
	{name: "ioctl-tcgets", def: "ok", off: "ok", tty: true, call: ioctl(unix.TCGETS)},
	{name: "ioctl-tcgets-high", def: "EPERM", off: "ok", tty: true, call: ioctl(1<<32 | unix.TCGETS)},
	// Docker's personalities (PER_LINUX32: linux32; UNAME26), alone or with
	// ADDR_NO_RANDOMIZE (setarch -R, gdb); the kernel reads 32 bits.
	{name: "personality-linux32", def: "ok", off: "ok", call: sc(unix.SYS_PERSONALITY, 8)},
	{name: "personality-linux32-high", def: "ok", off: "ok", call: sc(unix.SYS_PERSONALITY, uint64(1<<32|8))},
	{name: "personality-uname26", def: "ok", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x0020000)},
	{name: "personality-query", def: "ok", off: "ok", call: sc(unix.SYS_PERSONALITY, 0xffffffff)},
	{name: "personality-no-randomize", def: "ok", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x0040000)},
	{name: "personality-no-randomize-linux32", def: "ok", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x0040008)},
	// What weakens the caller's own memory protection or layout further.
	{name: "personality-read-implies-exec", def: "EPERM", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x0400000)},
	{name: "personality-mmap-page-zero", def: "EPERM", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x0100000)},
	{name: "personality-compat-layout", def: "EPERM", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x0200000)},
	{name: "personality-linux32-3gb", def: "EPERM", off: "ok", call: sc(unix.SYS_PERSONALITY, 0x8000008)},
	// Without the filter AF_VSOCK gives ok or EAFNOSUPPORT, as the kernel
	// has it; with a bad type the kernel says EINVAL before it looks at the
	// family. AF_PACKET needs CAP_NET_RAW.
	{name: "socket-vsock", def: "EAFNOSUPPORT", off: "ok|EAFNOSUPPORT", call: sock(unix.AF_VSOCK, unix.SOCK_STREAM)},
	{name: "socket-vsock-badtype", def: "EAFNOSUPPORT", off: "EINVAL", call: sock(unix.AF_VSOCK, 99)},
	{name: "socket-vsock-high", def: "EAFNOSUPPORT", off: "ok|EAFNOSUPPORT", call: sock(1<<32|unix.AF_VSOCK, unix.SOCK_STREAM)},
	{name: "socket-packet", def: "EAFNOSUPPORT", off: "EPERM|EAFNOSUPPORT", call: sock(unix.AF_PACKET, unix.SOCK_RAW)},
	{name: "socket-inet", def: "ok", off: "ok", call: sock(unix.AF_INET, unix.SOCK_STREAM)},
	{name: "socket-unix", def: "ok", off: "ok", call: sock(unix.AF_UNIX, unix.SOCK_STREAM)},
	// Other ABIs kill. Without the filter: x32 is ENOSYS where the kernel
	// lacks it. Where the host refuses 32-bit calls to every process
	// (int $0x80 faults: ia32_emulation=0), i386 calls cannot be made at
	// all, and the test says so.
	{name: "x32-getpid", def: "SIGSYS", off: "ENOSYS|ok", arch: "amd64", call: sc(0x40000000 | unix.SYS_GETPID)},
	{name: "i386-getpid", def: "SIGSYS", off: "ok", arch: "amd64", i386: true, call: int80},
	// Numbers unknown to the compiler and the kernel: ENOSYS, so libraries
	// fall back (internal/seccomp/prologue.go). 400 is in x86_64's hole.
	{name: "nr-500", def: "ENOSYS", off: "ENOSYS", call: sc(500)},
	{name: "nr-400-hole", def: "ENOSYS", off: "ENOSYS", arch: "amd64", call: sc(400)},
	{name: "nr-1023", def: "ENOSYS", off: "ENOSYS", call: sc(1023)},
	{name: "nr-100000", def: "ENOSYS", off: "ENOSYS", call: sc(100000)},
}
