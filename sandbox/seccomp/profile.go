package seccomp

import (
	"fmt"
	"slices"
	"sync"
	"syscall"

	filter "github.com/corral-dev/corral/internal/seccomp"
)

// Profile configures a sandbox's system-call filter. The zero value is the
// default profile (see the package doc for what it refuses).
type Profile struct {
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
	Rules []Rule
}

// Rule applies Action to calls of Syscalls whose arguments meet every
// condition in Args.
type Rule struct {
	Syscalls []string
	Action   Action
	Args     []Arg
}

// Action is what a rule does to a matching call.
type Action struct {
	kind  filter.Kind
	errno syscall.Errno
}

// The actions of rules.
var (
	Allow = Action{kind: filter.Allow} // run the call
	Kill  = Action{kind: filter.Kill}  // kill the process (SIGSYS)
	Log   = Action{kind: filter.Log}   // run it and log it (audit log)
)

// Errno returns the action that fails a call with errno.
func Errno(errno syscall.Errno) Action {
	return Action{kind: filter.Errno, errno: errno}
}

func (a Action) String() string {
	return filter.Action{Kind: a.kind, Errno: a.errno}.String()
}

// Op compares a system-call argument with a value.
type Op int

// The comparisons of Arg.
const (
	Equal        = Op(filter.Equal)
	NotEqual     = Op(filter.NotEqual)
	Less         = Op(filter.Less)
	LessEqual    = Op(filter.LessEqual)
	Greater      = Op(filter.Greater)
	GreaterEqual = Op(filter.GreaterEqual)
	MaskedEqual  = Op(filter.MaskedEqual) // (argument & Mask) == Value
)

// Arg is a condition on argument Index (0 to 5) of a call.
type Arg struct {
	Index uint
	Op    Op
	Value uint64
	Mask  uint64 // for MaskedEqual
}

// Refuses reports the index of the first rule that refuses the call name
// (an action other than Allow or Log), and whether there is one. Package
// sandbox uses it to name the rule that conflicts with another option.
func (p Profile) Refuses(name string) (int, bool) {
	for i, r := range p.Rules {
		if r.Action != Allow && r.Action != Log && slices.Contains(r.Syscalls, name) {
			return i, true
		}
	}
	return -1, false
}

// RuleError reports an invalid rule of a Profile (see Profile.Validate).
type RuleError struct {
	Rule   int    // the index in Profile.Rules
	Field  string // the rule's field, as spelled in Go: "Syscalls[1]", "Action", "Args[0].Op"
	Value  any    // the offending value
	Reason string // what is wrong and what to do instead
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("seccomp: invalid Rules[%d].%s %q: %s", e.Rule, e.Field, fmt.Sprint(e.Value), e.Reason)
}

// Validate checks the rules: every system call is one of this architecture,
// errnos are in range, conditions name arguments 0 to 5 and a known Op. The
// error is a *RuleError naming the rule and its field; package sandbox
// reports it as Options.Seccomp.Rules[i]....
func (p Profile) Validate() error {
	for i, r := range p.Rules {
		bad := func(field string, v any, reason string) error { return &RuleError{i, field, v, reason} }
		if len(r.Syscalls) == 0 {
			return bad("Syscalls", r.Syscalls, "must name at least one system call")
		}
		for j, n := range r.Syscalls {
			if !filter.Known(n) {
				return bad(fmt.Sprintf("Syscalls[%d]", j), n, "is not a system call of this architecture")
			}
		}
		if r.Action.kind == filter.Errno && (r.Action.errno <= 0 || r.Action.errno > 4094) {
			return bad("Action", r.Action.errno, "needs an errno between 1 and 4094 (libseccomp's range)")
		}
		for j, a := range r.Args {
			af := fmt.Sprintf("Args[%d]", j)
			if a.Index > 5 {
				return bad(af+".Index", a.Index, "must be 0 to 5")
			}
			if a.Op < Equal || a.Op > MaskedEqual {
				return bad(af+".Op", a.Op, "is not a seccomp.Op")
			}
		}
	}
	return nil
}

// defaultFilter is the default profile for a command without capabilities,
// compiled once per process: most sandboxes use it.
var defaultFilter = sync.OnceValues(func() ([]byte, error) { return compile(nil, nil) })

// Compile builds the filter for a command holding the capabilities caps
// (names such as "CAP_NET_BIND_SERVICE", which widen the default profile as
// Docker's does): a classic BPF program, the kernel's sock_filter array as
// bytes, ready for seccomp(SECCOMP_SET_MODE_FILTER). It is nil when
// Disabled. Package sandbox calls it once per Sandbox; callers need it only
// to inspect a filter. Call Validate first: Compile's errors are the
// compiler's.
func (p Profile) Compile(caps []string) ([]byte, error) {
	switch {
	case p.Disabled:
		return nil, nil
	case len(p.Rules) == 0 && len(caps) == 0:
		return defaultFilter()
	}
	return compile(p.Rules, caps)
}

// forced is the filter's last layer, which the caller's rules cannot
// change: each command calls landlock_restrict_self under the filter, to
// confine itself with its run's Landlock rules just before its execve.
// The call can only narrow what the caller can do.
var forced = []filter.Rule{{Names: []string{"landlock_restrict_self"}, Action: filter.Action{Kind: filter.Allow}}}

func compile(rules []Rule, caps []string) ([]byte, error) {
	layers, err := filter.Default(caps)
	if err != nil {
		return nil, err
	}
	var custom []filter.Rule
	for _, r := range rules {
		cr := filter.Rule{Names: r.Syscalls, Action: filter.Action{Kind: r.Action.kind, Errno: r.Action.errno}}
		for _, a := range r.Args {
			cr.Args = append(cr.Args, filter.Arg{Index: a.Index, Op: filter.Op(a.Op), Value: a.Value, Mask: a.Mask})
		}
		custom = append(custom, cr)
	}
	strict := make([]bool, len(layers)+2)
	strict[len(layers)] = true
	return filter.Compile(append(layers, custom, forced), strict)
}
