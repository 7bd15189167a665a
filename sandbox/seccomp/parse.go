package seccomp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"

	filter "github.com/corral-dev/corral/internal/seccomp"
	"golang.org/x/sys/unix"
)

// ParseProfile reads a seccomp profile, the text form of a Profile;
// it is also the format of the corral command's --seccomp FILE.
//
// A profile holds one rule per line. A '#' starts a comment that runs to the
// end of the line; blank lines are ignored. Words are separated by spaces or
// tabs. A rule reads
//
//	ACTION [ERRNO] SYSCALL[,SYSCALL...] [argN OP VALUE]...
//
// ACTION is allow (run the call), kill (kill the process with SIGSYS), log
// (run the call and log it to the kernel's audit log) or errno, which fails
// the call with ERRNO: a name such as EPERM or EXDEV, or a number from 1 to
// 4094. The SYSCALLs are system-call names of this architecture, separated
// by commas (spaces around the commas are allowed). The rules apply over the
// default profile, in order: the rules for a system call replace the default
// profile's rules for it and add up among themselves (see Profile.Rules).
//
// A condition limits the rule to the calls whose argument N (arg0 to arg5)
// compares with VALUE by OP, one of == != < <= > >= (unsigned 64-bit
// comparisons); the masked form argN &= MASK == VALUE holds when the
// argument ANDed with MASK equals VALUE. A call must meet every condition of
// a rule, and a rule has at most one condition per argument (libseccomp's
// limit); for "either", write several rules. Numbers are decimal or
// hexadecimal with a 0x prefix, from 0 to 2^64-1. Actions and errno names
// may be in any case; system-call names are lowercase.
//
// The word disable, alone on its line, turns the filter off
// (Profile.Disabled); a profile that has it can have no rules.
//
// For example:
//
//	allow kcmp                                # compare file descriptors
//	errno EXDEV getcwd                        # fail getcwd with EXDEV
//	kill getppid, bpf                         # kill the process that calls either
//	log openat                                # run openat and audit-log it
//	errno EAFNOSUPPORT socket arg0 == 2       # no AF_INET sockets
//	allow personality arg0 &= 0xffffffff == 0 # only PER_LINUX
//
// An error in the profile is a *ProfileError, which names the line, the word
// and the fix; an error reading r is returned wrapped.
func ParseProfile(r io.Reader) (Profile, error) {
	var s Profile
	var disableLine, ruleLine int
	sc := bufio.NewScanner(r)
	n := 1 // the line number
	for ; sc.Scan(); n++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		w := strings.Fields(text)
		if len(w) == 0 {
			continue
		}
		if strings.ToLower(w[0]) == "disable" {
			switch {
			case len(w) > 1:
				return Profile{}, &ProfileError{n, 2, w[1], "disable stands alone on its line; remove the rest"}
			case ruleLine != 0:
				return Profile{}, &ProfileError{n, 1, w[0], fmt.Sprintf("disable turns the filter off, but line %d has a rule; remove the rules or this line", ruleLine)}
			}
			s.Disabled, disableLine = true, n
			continue
		}
		if disableLine != 0 {
			return Profile{}, &ProfileError{n, 1, w[0], fmt.Sprintf("line %d disables the filter, so the profile can have no rules; remove the rules or that line", disableLine)}
		}
		rule, err := parseRule(w)
		if err != nil {
			err.Line = n
			return Profile{}, err
		}
		s.Rules, ruleLine = append(s.Rules, rule), n
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return Profile{}, &ProfileError{Line: n, Reason: "line longer than 64 KiB"}
	} else if err != nil {
		return Profile{}, fmt.Errorf("seccomp profile: %w", err)
	}
	return s, nil
}

// ProfileError reports an error in a seccomp profile (see
// ParseProfile).
type ProfileError struct {
	Line   int    // 1-based
	Field  int    // 1-based index of the word on the line; 0 for the whole line
	Text   string // the offending word or part of it; "" when a word is missing
	Reason string // what is wrong and how to fix it
}

func (e *ProfileError) Error() string {
	s := fmt.Sprintf("seccomp profile line %d", e.Line)
	if e.Field > 0 {
		s += fmt.Sprintf(", field %d", e.Field)
	}
	if e.Text != "" {
		s += fmt.Sprintf(" (%q)", e.Text)
	}
	return s + ": " + e.Reason
}

var profileOps = map[string]Op{
	"==": Equal, "!=": NotEqual, "<": Less, "<=": LessEqual,
	">": Greater, ">=": GreaterEqual, "&=": MaskedEqual,
}

// parseRule parses the words of one rule; the error's Line is left to the caller.
func parseRule(w []string) (Rule, *ProfileError) {
	bad := func(i int, reason string) (Rule, *ProfileError) {
		return Rule{}, &ProfileError{Field: i + 1, Text: wordAt(w, i), Reason: reason}
	}
	var r Rule
	i := 1
	switch strings.ToLower(w[0]) {
	case "allow":
		r.Action = Allow
	case "kill":
		r.Action = Kill
	case "log":
		r.Action = Log
	case "errno":
		if i == len(w) {
			return bad(i, `missing errno: want a name such as EPERM, or a number from 1 to 4094 (e.g. "errno EPERM getcwd")`)
		}
		e, ok := errnoNames()[strings.ToUpper(w[i])]
		if !ok {
			if w[i][0] < '0' || w[i][0] > '9' {
				return bad(i, `unknown errno: want a name such as EPERM or EXDEV, or a number from 1 to 4094, before the system calls (e.g. "errno EPERM getcwd")`)
			}
			v, reason := parseProfileNumber(w[i])
			if reason != "" {
				return bad(i, reason)
			}
			if v < 1 || v > 4094 {
				return bad(i, "errno out of range: want 1 to 4094 (libseccomp refuses 4095 and up)")
			}
			e = syscall.Errno(v)
		}
		r.Action = Errno(e)
		i++
	default:
		return bad(0, "unknown action: want allow, errno, kill or log (or disable alone on its line)")
	}

	// The system calls: words joined while a comma ends one or starts the next.
	if i == len(w) {
		return bad(i, `missing system call: name one or more after the action, separated by commas (e.g. "kill getppid,bpf")`)
	}
	first := i
	for i++; i < len(w) && (strings.HasSuffix(w[i-1], ",") || strings.HasPrefix(w[i], ",")); i++ {
	}
	list := strings.Join(w[first:i], "")
	if strings.Trim(list, ",") == "" {
		return bad(i-1, `empty system call list: name one or more, separated by commas (e.g. "kill getppid,bpf")`)
	}
	off, wi, end := 0, first, len(w[first]) // name's offset in list; the word that holds it, and its end
	for _, name := range strings.Split(list, ",") {
		for ; off >= end && wi+1 < i; end += len(w[wi]) {
			wi++
		}
		switch {
		case name == "":
			return bad(wi, "empty system call name: separate the names with single commas, with none at either end")
		case filter.Known(strings.ToLower(name)) && !filter.Known(name):
			return Rule{}, &ProfileError{Field: wi + 1, Text: name, Reason: fmt.Sprintf("system-call names are lowercase: write %q", strings.ToLower(name))}
		case !filter.Known(name):
			return Rule{}, &ProfileError{Field: wi + 1, Text: name, Reason: `unknown system call on this architecture; check the name (e.g. "openat"; some, such as open, exist only on some architectures)`}
		}
		r.Syscalls = append(r.Syscalls, name)
		off += len(name) + 1
	}

	// The conditions.
	var seen [6]bool
	for i < len(w) {
		digits, ok := strings.CutPrefix(w[i], "arg")
		idx, err := strconv.ParseUint(digits, 10, 64)
		if !ok || err != nil {
			hint := ""
			if filter.Known(w[i]) {
				hint = "; to name several system calls, separate them with commas"
			}
			return bad(i, `bad condition: want argN OP VALUE, with spaces between the words (e.g. "arg0 == 2")`+hint)
		}
		if idx > 5 {
			return bad(i, "argument index out of range: system calls have arguments arg0 to arg5")
		}
		if seen[idx] {
			return bad(i, "one condition per argument per rule; split it into two rules")
		}
		seen[idx] = true
		op, ok := profileOps[wordAt(w, i+1)]
		if !ok {
			return bad(i+1, "want an operator after "+w[i]+": one of == != < <= > >= &=")
		}
		a := Arg{Index: uint(idx), Op: op}
		var reason string
		if a.Value, reason = parseProfileNumber(wordAt(w, i+2)); reason != "" {
			return bad(i+2, reason)
		}
		i += 3
		if op == MaskedEqual {
			if i == len(w) || w[i] != "==" {
				return bad(i, "want == here: a masked condition reads argN &= MASK == VALUE")
			}
			a.Mask = a.Value
			if a.Value, reason = parseProfileNumber(wordAt(w, i+1)); reason != "" {
				return bad(i+1, reason)
			}
			if a.Value&^a.Mask != 0 {
				return bad(i+1, "value has bits outside the mask, so the condition never holds; clear them or widen the mask")
			}
			i += 2
		}
		r.Args = append(r.Args, a)
	}
	return r, nil
}

// wordAt returns w[i], or "" past the end.
func wordAt(w []string, i int) string {
	if i < len(w) {
		return w[i]
	}
	return ""
}

// parseProfileNumber parses a decimal or 0x hexadecimal uint64; on error it
// returns the reason.
func parseProfileNumber(s string) (uint64, string) {
	const want = "a decimal or 0x hexadecimal number from 0 to 2^64-1"
	if s == "" {
		return 0, "missing value: want " + want
	}
	if len(s) > 1 && s[0] == '0' && s[1] != 'x' && s[1] != 'X' {
		return 0, "bad number: a leading 0 does not mean octal here; write " + want
	}
	base, digits := 10, s
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		base, digits = 16, rest
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		return 0, "bad number: want " + want
	}
	return v, ""
}

// errnoNames maps errno names (EPERM...) to their numbers.
var errnoNames = sync.OnceValue(func() map[string]syscall.Errno {
	m := map[string]syscall.Errno{"EWOULDBLOCK": unix.EWOULDBLOCK, "EDEADLOCK": unix.EDEADLOCK, "ENOTSUP": unix.ENOTSUP}
	for e := syscall.Errno(1); e <= 4094; e++ {
		if n := unix.ErrnoName(e); n != "" {
			m[n] = e
		}
	}
	return m
})
