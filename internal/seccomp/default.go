package seccomp

import (
	"fmt"
	"strings"
	"syscall"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Default returns the default profile, in layers (a later layer's rules for
// a system call replace an earlier one's): Docker's default profile as it
// applies to a process holding only caps, then Corral's hardening.
func Default(caps []string) ([][]Rule, error) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p, err := mobyseccomp.GetDefaultProfile(spec)
	if err != nil {
		return nil, fmt.Errorf("seccomp: default profile: %w", err)
	}
	var docker []Rule
	for _, s := range p.Syscalls {
		r, err := fromSpec(s)
		if err != nil {
			return nil, err
		}
		docker = append(docker, r)
	}
	return [][]Rule{docker, hardening()}, nil
}

// Blocked are the calls the default profile always refuses with EPERM
// (unless the caller's own rules allow them again): namespaces, mounts,
// kernel keyrings, BPF, perf, userfaultfd, io_uring, kernel images and
// modules, reboot, swap and file handles, and the process calls Docker
// keeps for holders of CAP_SYS_PTRACE (kcmp, pidfd_getfd, process_madvise).
//
// ptrace and process_vm_readv/writev are not here: Docker's layer allows
// them from Linux 4.8, where seccomp checks a call again after a tracer
// changed it (before, a tracer could turn an allowed call of its tracee
// into any other). The kernel's ptrace access check keeps them among the
// command's own processes: the sandbox's init is not dumpable and holds
// capabilities the command lacks, and no command keeps CAP_SYS_PTRACE.
var Blocked = []string{
	"setns", "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "open_tree_attr",
	"fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
	"keyctl", "add_key", "request_key", "bpf", "perf_event_open",
	"process_madvise", "kcmp", "pidfd_getfd",
	"userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"reboot", "swapon", "swapoff", "open_by_handle_at", "name_to_handle_at",
	"acct", "quotactl", "quotactl_fd", "lookup_dcookie", "syslog", "vhangup", "uselib",
	"iopl", "ioperm", "nfsservctl", "sysfs", "_sysctl", "ustat", "create_module", "get_kernel_syms",
	"query_module", "fanotify_init", "settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex", "clock_adjtime", "clock_adjtime64",
}

// Socket families a sandboxed command may use; every other fails with
// EAFNOSUPPORT (so that libraries fall back as on a kernel without it).
var socketFamilies = []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK}

// personalities are the personality(2) arguments a command may pass: the
// query (0xffffffff), and the personalities Docker's profile allows,
// PER_LINUX, PER_LINUX32 (linux32, setarch i686: uname says i686, as
// 32-bit builds on a 64-bit host want), UNAME26 (setarch --uname-2.6) and
// both, each alone or with ADDR_NO_RANDOMIZE (setarch -R, gdb's default,
// which ORs it into the current personality). They change only what uname
// reports and the layout of the caller's own later programs (the kernel
// clears ADDR_NO_RANDOMIZE on an exec that gains privileges). The flags that
// weaken the caller's memory protection or layout further
// (READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ADDR_COMPAT_LAYOUT, the address
// limits) and the other execution domains stay refused.
var personalities = []uint64{
	0, perLinux32, uname26, uname26 | perLinux32,
	addrNoRandomize, addrNoRandomize | perLinux32, addrNoRandomize | uname26, addrNoRandomize | uname26 | perLinux32,
	0xffffffff,
}

// Personality values of <linux/personality.h>.
const (
	perLinux32      = 0x0008
	uname26         = 0x0020000
	addrNoRandomize = 0x0040000
)

// hardening tightens Docker's profile.
func hardening() []Rule {
	eperm := Action{Kind: Errno, Errno: syscall.EPERM}
	allow := Action{Kind: Allow}
	rs := []Rule{{Names: Blocked, Action: eperm}}
	// Only the personalities listed (linux32, setarch -R and gdb, uname26)
	// and the query. The kernel reads the argument as 32 bits, so the
	// filter compares those alone.
	for _, v := range personalities {
		rs = append(rs, Rule{Names: []string{"personality"}, Action: allow,
			Args: []Arg{{Index: 0, Op: MaskedEqual, Mask: 0xffffffff, Value: v}}})
	}
	rs = append(rs, except32("personality", 0, personalities, 0, eperm)...)
	// No new user namespace by clone or unshare (other namespaces need
	// capabilities the command does not have). clone3's flags are in memory
	// a filter cannot read: the sandbox's user namespace limit
	// (user.max_user_namespaces = 0) stops it there.
	newuser := Arg{Index: 0, Op: MaskedEqual, Mask: unix.CLONE_NEWUSER, Value: 0}
	rs = append(rs,
		Rule{Names: []string{"unshare"}, Action: allow, Args: []Arg{newuser}},
		Rule{Names: []string{"unshare"}, Action: eperm, Args: []Arg{{Index: 0, Op: MaskedEqual, Mask: unix.CLONE_NEWUSER, Value: unix.CLONE_NEWUSER}}},
		Rule{Names: []string{"clone3"}, Action: allow},
	)
	// Terminal input injection (TIOCSTI) and the Linux console's TIOCLINUX.
	// A filter rule compares one argument once and cannot say "anything
	// but", so the allowed requests are listed as aligned blocks of values;
	// requests with bits set above the 32 the kernel reads are refused,
	// except sign-extended ones (which are not these two).
	denied := []uint64{unix.TIOCSTI, unix.TIOCLINUX}
	for _, req := range denied {
		rs = append(rs, Rule{Names: []string{"ioctl"}, Action: eperm,
			Args: []Arg{{Index: 1, Op: MaskedEqual, Mask: 0xffffffff, Value: req}}})
	}
	rs = append(rs, except32("ioctl", 1, denied, 0xffffffff00000000, allow)...)
	rs = append(rs, Rule{Names: []string{"ioctl"}, Action: allow,
		Args: []Arg{{Index: 1, Op: MaskedEqual, Mask: 0xffffffff80000000, Value: 0xffffffff80000000}}})
	for _, fam := range socketFamilies {
		rs = append(rs, Rule{Names: []string{"socket"}, Action: allow,
			Args: []Arg{{Index: 0, Op: MaskedEqual, Mask: 0xffffffff, Value: fam}}})
	}
	rs = append(rs, except32("socket", 0, socketFamilies, 0, Action{Kind: Errno, Errno: syscall.EAFNOSUPPORT})...)
	rs = append(rs, setIDRules()...)
	return append(rs, prlimitRules()...)
}

// fromSpec converts one rule of an OCI seccomp profile.
func fromSpec(s specs.LinuxSyscall) (Rule, error) {
	r := Rule{Names: s.Names}
	switch s.Action {
	case specs.ActAllow:
		r.Action = Action{Kind: Allow}
	case specs.ActErrno:
		r.Action = Action{Kind: Errno, Errno: syscall.EPERM}
		if s.ErrnoRet != nil {
			r.Action.Errno = syscall.Errno(*s.ErrnoRet)
		}
	case specs.ActKill, specs.ActKillProcess, specs.ActKillThread:
		r.Action = Action{Kind: Kill}
	case specs.ActLog:
		r.Action = Action{Kind: Log}
	default:
		return r, fmt.Errorf("seccomp: default profile: unsupported action %s for %s", s.Action, strings.Join(s.Names, ","))
	}
	for _, a := range s.Args {
		arg := Arg{Index: a.Index, Value: a.Value}
		switch a.Op {
		case specs.OpEqualTo:
			arg.Op = Equal
		case specs.OpNotEqual:
			arg.Op = NotEqual
		case specs.OpLessThan:
			arg.Op = Less
		case specs.OpLessEqual:
			arg.Op = LessEqual
		case specs.OpGreaterThan:
			arg.Op = Greater
		case specs.OpGreaterEqual:
			arg.Op = GreaterEqual
		case specs.OpMaskedEqual: // OCI: Value is the mask, ValueTwo the value
			arg.Op, arg.Mask, arg.Value = MaskedEqual, a.Value, a.ValueTwo
		default:
			return r, fmt.Errorf("seccomp: default profile: unsupported operator %s", a.Op)
		}
		r.Args = append(r.Args, arg)
	}
	return r, nil
}

// except32 returns rules applying action to every 32-bit value of argument
// index except those in excluded, as aligned blocks (a prefix cover) that
// single masked comparisons can express. upper is added to every mask, so
// that the bits above 32 must be zero.
func except32(name string, index uint, excluded []uint64, upper uint64, action Action) []Rule {
	var rs []Rule
	var cover func(prefix uint64, bits uint)
	cover = func(prefix uint64, bits uint) { // the block: values whose top (32-bits) bits are prefix's
		lo, hi := prefix, prefix|(1<<bits-1)
		n := 0
		for _, v := range excluded {
			if v >= lo && v <= hi {
				n++
			}
		}
		switch {
		case n == 0:
			mask := (uint64(0xffffffff) &^ (1<<bits - 1)) | upper
			rs = append(rs, Rule{Names: []string{name}, Action: action,
				Args: []Arg{{Index: index, Op: MaskedEqual, Mask: mask, Value: prefix}}})
		case bits == 0: // an excluded value
		default:
			cover(prefix, bits-1)
			cover(prefix|1<<(bits-1), bits-1)
		}
	}
	cover(0, 32)
	return rs
}
