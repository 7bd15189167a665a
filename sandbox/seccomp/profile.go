package sandbox

import (
	"fmt"
	"slices"
	"sync"
	"syscall"

	"github.com/corral-dev/corral/internal/seccomp"
)

// Seccomp configures the sandbox's system-call filter. The zero value is
// the default profile: Docker's default allow-list as it applies to a
// process without capabilities, hardened further. Calls it does not allow
// fail with EPERM; calls newer than the filter compiler fail with ENOSYS,
// so libraries fall back. It always refuses (EPERM): new user namespaces
// (clone and unshare with CLONE_NEWUSER; clone3 is stopped by the sandbox's
// user.max_user_namespaces of 0), setns, the mount family and pivot_root,
// keyctl, add_key, request_key, bpf, perf_event_open, kcmp, pidfd_getfd,
// process_madvise, userfaultfd, io_uring, kexec, module loading, reboot,
// swapon, open_by_handle_at, the TIOCSTI and TIOCLINUX ioctls, and
// personality other than Docker's (PER_LINUX, PER_LINUX32, UNAME26), each
// alone or with ADDR_NO_RANDOMIZE. Socket families other than unix,
// inet, inet6 and netlink fail with EAFNOSUPPORT. Other ABIs (i386 and x32
// on x86_64) kill the process.
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
type Seccomp struct {
	// Disabled turns the filter off. Use it only for commands that need
	// what the profile refuses.
	Disabled bool
	// Rules apply over the default profile: the rules for a system call
	// replace the profile's rules for it, and add up among themselves. A
	// filter cannot say "otherwise": when a call's rules all have
	// conditions, a call matching none of them fails with EPERM, and an
	// unconditional rule for the call overrides its conditional ones. To
	// treat the other cases differently, cover them with conditions too.
	// landlock_restrict_self is always allowed, whatever the rules say:
	// each command calls it under the filter, to confine itself with its
	// Landlock rules just before its execve, and it can only narrow what a
	// process may do. Rules refusing landlock_create_ruleset or
	// landlock_add_rule hold for the command (the init builds its rulesets
	// on an unfiltered thread then).
	Rules []SeccompRule
}

// SeccompRule applies Action to calls of Syscalls whose arguments meet
// every condition in Args.
type SeccompRule struct {
	Syscalls []string
	Action   SeccompAction
	Args     []SeccompArg
}

// SeccompAction is what a rule does to a matching call.
type SeccompAction struct {
	kind  seccomp.Kind
	errno syscall.Errno
}

// The actions of seccomp rules.
var (
	SeccompAllow = SeccompAction{kind: seccomp.Allow} // run the call
	SeccompKill  = SeccompAction{kind: seccomp.Kill}  // kill the process (SIGSYS)
	SeccompLog   = SeccompAction{kind: seccomp.Log}   // run it and log it (audit log)
)

// SeccompErrno returns the action that fails a call with errno.
func SeccompErrno(errno syscall.Errno) SeccompAction {
	return SeccompAction{kind: seccomp.Errno, errno: errno}
}

func (a SeccompAction) String() string {
	return seccomp.Action{Kind: a.kind, Errno: a.errno}.String()
}

// SeccompOp compares a system-call argument with a value.
type SeccompOp int

// The comparisons of SeccompArg.
const (
	SeccompEqual        = SeccompOp(seccomp.Equal)
	SeccompNotEqual     = SeccompOp(seccomp.NotEqual)
	SeccompLess         = SeccompOp(seccomp.Less)
	SeccompLessEqual    = SeccompOp(seccomp.LessEqual)
	SeccompGreater      = SeccompOp(seccomp.Greater)
	SeccompGreaterEqual = SeccompOp(seccomp.GreaterEqual)
	SeccompMaskedEqual  = SeccompOp(seccomp.MaskedEqual) // (argument & Mask) == Value
)

// SeccompArg is a condition on argument Index (0 to 5) of a call.
type SeccompArg struct {
	Index uint
	Op    SeccompOp
	Value uint64
	Mask  uint64 // for SeccompMaskedEqual
}

// refusing returns the index of the first rule that refuses the call
// name (an action other than allow or log), or -1.
func (s *Seccomp) refusing(name string) int {
	for i, r := range s.Rules {
		if r.Action != SeccompAllow && r.Action != SeccompLog && slices.Contains(r.Syscalls, name) {
			return i
		}
	}
	return -1
}

// validate checks the rules; every error names the field.
func (s *Seccomp) validate() error {
	for i, r := range s.Rules {
		field := fmt.Sprintf("Options.Seccomp.Rules[%d]", i)
		if len(r.Syscalls) == 0 {
			return &OptionError{field + ".Syscalls", r.Syscalls, "must name at least one system call"}
		}
		for j, n := range r.Syscalls {
			if !seccomp.Known(n) {
				return &OptionError{fmt.Sprintf("%s.Syscalls[%d]", field, j), n, "is not a system call of this architecture"}
			}
		}
		if r.Action.kind == seccomp.Errno && (r.Action.errno <= 0 || r.Action.errno > 4094) {
			return &OptionError{field + ".Action", r.Action.errno, "needs an errno between 1 and 4094 (libseccomp's range)"}
		}
		for j, a := range r.Args {
			af := fmt.Sprintf("%s.Args[%d]", field, j)
			if a.Index > 5 {
				return &OptionError{af + ".Index", a.Index, "must be 0 to 5"}
			}
			if a.Op < SeccompEqual || a.Op > SeccompMaskedEqual {
				return &OptionError{af + ".Op", a.Op, "is not a SeccompOp"}
			}
		}
	}
	return nil
}

// defaultFilter is the default profile for a command without capabilities,
// compiled once per process: most sandboxes use it.
var defaultFilter = sync.OnceValues(func() ([]byte, error) { return compileFilter(nil, nil) })

// compile builds the filter for a command holding caps: nil when Disabled.
func (s *Seccomp) compile(caps []string) ([]byte, error) {
	switch {
	case s.Disabled:
		return nil, nil
	case len(s.Rules) == 0 && len(caps) == 0:
		return defaultFilter()
	}
	return compileFilter(s.Rules, caps)
}

// forced is the filter's last layer, which the caller's rules cannot
// change: each command calls landlock_restrict_self under the filter, to
// confine itself with its run's Landlock rules just before its execve.
// The call can only narrow what the caller can do.
var forced = []seccomp.Rule{{Names: []string{"landlock_restrict_self"}, Action: seccomp.Action{Kind: seccomp.Allow}}}

// refusesRuleset reports whether the caller's rules may refuse the calls
// that build a Landlock ruleset, which the init's launcher makes under
// the filter for each run that is passed a file (or else leaves to an
// unfiltered thread, which costs a thread switch).
func (s *Seccomp) refusesRuleset() bool {
	return s.refusing("landlock_create_ruleset") >= 0 || s.refusing("landlock_add_rule") >= 0
}

func compileFilter(rules []SeccompRule, caps []string) ([]byte, error) {
	layers, err := seccomp.Default(caps)
	if err != nil {
		return nil, err
	}
	var custom []seccomp.Rule
	for _, r := range rules {
		cr := seccomp.Rule{Names: r.Syscalls, Action: seccomp.Action{Kind: r.Action.kind, Errno: r.Action.errno}}
		for _, a := range r.Args {
			cr.Args = append(cr.Args, seccomp.Arg{Index: a.Index, Op: seccomp.Op(a.Op), Value: a.Value, Mask: a.Mask})
		}
		custom = append(custom, cr)
	}
	strict := make([]bool, len(layers)+2)
	strict[len(layers)] = true
	return seccomp.Compile(append(layers, custom, forced), strict)
}
