package sandbox

import (
	"strconv"

	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox/seccomp"
)

// refusesRuleset reports whether the caller's rules may refuse the calls
// that build a Landlock ruleset, which the init's launcher makes under
// the filter for each run that is passed a file (or else leaves to an
// unfiltered thread, which costs a thread switch).
func refusesRuleset(p seccomp.Profile) bool {
	_, create := p.Refuses("landlock_create_ruleset")
	_, add := p.Refuses("landlock_add_rule")
	return create || add
}

// LandlockMode says whether the command is also confined by Landlock, a
// second filesystem layer under the mounts: rules derived from them let it
// read and execute everywhere it can see, write only to its writable mounts,
// and use only its device nodes, even if a mount were subverted. Each
// command gets a domain of its own as it starts, with a rule for each file
// passed to it, which it can then reopen by path (/dev/stdin) with the
// access its fd has and no more (see Cmd).
type LandlockMode int

const (
	// LandlockAuto uses Landlock where the kernel has it; where it does not,
	// Result.Degraded says so.
	LandlockAuto LandlockMode = iota
	// LandlockOff does not use Landlock.
	LandlockOff
	// LandlockRequired makes Run fail with a *FeatureError where the kernel
	// lacks Landlock.
	LandlockRequired
)

func (m LandlockMode) String() string {
	switch m {
	case LandlockAuto:
		return "auto"
	case LandlockOff:
		return "off"
	case LandlockRequired:
		return "required"
	}
	return "LandlockMode(" + strconv.Itoa(int(m)) + ")"
}

// landlock returns the rules and the scopes the init applies (nil and 0:
// none), and what was weakened.
//
// The signal scope is applied wherever the kernel has it (Landlock ABI 6,
// Linux 6.12), with LandlockOff too, as a ruleset that restricts no
// filesystem right: the command then cannot signal its init (whose Go
// runtime wakes for every signal, on CPU time outside the command's
// cgroup), only its own processes. The kernel's own notices to the init
// are not signals the scope sees: SIGCHLD when one of its children (the
// command, orphans) stops, continues or exits; a command can still make
// the init wake that way, which is why the init's CPU time during a run
// counts in the command's everywhere. Where the kernel lacks it, the init's
// CPU time during a run counts in the command's (see Limits.CPUs), and
// LandlockAuto and LandlockRequired say so in Result.Degraded.
//
// The abstract unix socket scope is not applied: with NetworkNone the
// sandbox's network namespace holds no abstract socket but the command's
// own, and with NetworkHost those of the host are part of the host's
// network the caller asked for, as its loopback services are.
func (s *Sandbox) landlock() ([]isolate.LandlockRule, uint64, []string, error) {
	abi, _ := isolate.LandlockABI() // 0 without Landlock
	var scopes uint64
	if isolate.LandlockScopes(abi)&isolate.ScopeSignal != 0 && !noSignalScope {
		scopes = isolate.ScopeSignal
	}
	if s.opts.Landlock == LandlockOff {
		return nil, scopes, nil, nil
	}
	if abi == 0 {
		f, _ := Check().Feature("landlock")
		if s.opts.Landlock == LandlockRequired {
			return nil, 0, nil, &FeatureError{Feature: "landlock", Reason: f.Detail, Fix: f.Fix + "; or use LandlockAuto"}
		}
		return nil, 0, []string{"landlock: not available (" + f.Detail + "); the mounts alone confine the filesystem", noScopeNote}, nil
	}
	var notes []string
	if scopes == 0 {
		notes = append(notes, noScopeNote)
	}
	rules := isolate.LandlockRules(s.mounts)
	if s.opts.Image != "" && !s.opts.Reuse {
		// The image's root is its overlay (or copy), writable: the whole
		// tree is, as far as the mounts let it (/dev's tmpfs too, which the
		// other roots keep from writes here).
		for i := range rules {
			if rules[i].Path == "/" {
				rules[i].Write = true
			}
		}
	}
	return rules, scopes, notes, nil
}

// noScopeNote is the Result.Degraded entry of a kernel without Landlock's
// signal scope.
const noScopeNote = "landlock: no signal scoping (Linux 6.12, Landlock ABI 6); the command can signal its init, whose CPU time counts in the command's"

// noSignalScope turns the signal scope off, for tests of what happens
// without it.
var noSignalScope bool
