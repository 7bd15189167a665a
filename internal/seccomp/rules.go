// Package seccomp builds the sandbox's system-call filter: the default
// profile (Docker's, from github.com/moby/profiles/seccomp, cut down for a
// command without capabilities and hardened further), plus the caller's own
// rules, compiled once with libseccomp into classic BPF that the sandbox
// init only has to install.
package seccomp

import (
	"fmt"
	"syscall"
)

// Kind is what a rule does to a matching call.
type Kind int

// The kinds of actions.
const (
	Allow Kind = iota // run the call
	Errno             // fail it with Action.Errno
	Kill              // kill the whole process (SIGSYS)
	Log               // run it and log it to the kernel's audit log
)

// Action is a rule's action.
type Action struct {
	Kind  Kind
	Errno syscall.Errno // for Errno
}

func (a Action) String() string {
	switch a.Kind {
	case Allow:
		return "allow"
	case Kill:
		return "kill"
	case Log:
		return "log"
	case Errno:
		return "errno " + errnoName(a.Errno)
	}
	return fmt.Sprintf("Action(%d)", int(a.Kind))
}

// Op compares a system-call argument.
type Op int

// The comparisons.
const (
	Equal Op = iota
	NotEqual
	Less
	LessEqual
	Greater
	GreaterEqual
	MaskedEqual // (arg & Mask) == Value
)

// Arg is a condition on argument Index (0-5) of the call.
type Arg struct {
	Index uint
	Op    Op
	Value uint64
	Mask  uint64 // for MaskedEqual
}

// Rule applies Action to calls of any of Names whose arguments meet every
// condition in Args.
type Rule struct {
	Names  []string
	Action Action
	Args   []Arg
}
