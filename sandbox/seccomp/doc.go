// Package seccomp describes the system-call filter of a sandbox: the
// profile (Options.Seccomp of package sandbox), the rules a caller adds over
// the default, and the parser of the text form that the corral command's
// --seccomp FILE reads.
//
// # The default profile
//
// The zero Profile is the default profile: Docker's default allow-list as
// it applies to a process without capabilities, hardened further. Calls it
// does not allow fail with EPERM; calls newer than the filter compiler fail
// with ENOSYS, so libraries fall back. It always refuses (EPERM): new user
// namespaces (clone and unshare with CLONE_NEWUSER; clone3 is stopped by
// the sandbox's user.max_user_namespaces of 0), setns, the mount family and
// pivot_root, keyctl, add_key, request_key, bpf, perf_event_open, kcmp,
// pidfd_getfd, process_madvise, userfaultfd, io_uring, kexec, module
// loading, reboot, swapon, open_by_handle_at, the TIOCSTI and TIOCLINUX
// ioctls, and personality other than Docker's (PER_LINUX, PER_LINUX32,
// UNAME26), each alone or with ADDR_NO_RANDOMIZE. Socket families other
// than unix, inet, inet6 and netlink fail with EAFNOSUPPORT. Other ABIs
// (i386 and x32 on x86_64) kill the process.
//
// No call may give a file the set-user-ID or set-group-ID bit (EPERM), as
// systemd's RestrictSUIDSGID= has it: chmod, fchmod, fchmodat, fchmodat2,
// mkdir, mkdirat, mknod, mknodat and creat with either bit in the mode, and
// open and openat creating a file (O_CREAT, O_TMPFILE) with either. So a
// command cannot leave a set-uid program in a host file it is handed (its
// stdio, an extra file) or reaches through a writable bind, which as root
// would be a set-uid-root program on the host. Programs that install
// set-id files (tar -p, cp -p, install -m 4755, mkdir -m 2775) get EPERM
// for those. A CAP_FSETID kept in Options.Capabilities changes nothing; a
// rule of the caller's for one of these calls replaces this, as for any.
// openat2 fails with ENOSYS: its mode is in memory a filter cannot read,
// and libraries fall back to openat. prlimit sets only the caller's own
// limits (pid 0; a process naming itself by its pid is refused too) and
// reads anyone's: a command cannot change the limits of the sandbox's init,
// which later commands of a reused sandbox would inherit.
//
// Debuggers and sanitizers (gdb, strace, LeakSanitizer) work among the
// command's own processes: ptrace and process_vm_readv/writev are allowed
// from Linux 4.8 as in Docker's profile (before 4.8 a tracer could change
// a call after the filter checked it, and they stay refused), and so is
// personality(ADDR_NO_RANDOMIZE), which only changes the caller's own
// later programs. The kernel's ptrace access check keeps the sandbox's
// init out of reach: it is not dumpable and holds capabilities the command
// lacks (Options.Capabilities refuses CAP_SYS_PTRACE, which would override
// that). kcmp, pidfd_getfd and process_madvise, which Docker allows only
// with CAP_SYS_PTRACE, stay refused; the same check guards them.
//
// # Why a package of its own
//
// The profile's types (a profile, rules, actions, comparisons, conditions,
// the parser and its error) were about 40% of package sandbox's exported
// names, each with a Seccomp prefix to tell it apart there. Here they read
// as what they are, seccomp.Rule{Syscalls: ..., Action: seccomp.Errno(e)}
// and seccomp.ParseProfile(r), and package sandbox keeps to running
// commands. The filter compiler stays in internal/seccomp, which this
// package imports (never the reverse).
//
// Package sandbox validates and compiles a profile through the exported
// methods Validate, Refuses and Compile, as any caller could: no hook
// variables tie the two packages together, so nothing depends on which
// package initializes first, and each method is tested on its own.
package seccomp
