package seccomp

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// SetID are the mode bits no call of the default profile may give a file:
// set-user-ID and set-group-ID.
const SetID = unix.S_ISUID | unix.S_ISGID

// tmpfileBit is __O_TMPFILE, the bit of O_TMPFILE that is not O_DIRECTORY.
const tmpfileBit = unix.O_TMPFILE &^ unix.O_DIRECTORY

// modeArgs are the calls that take a file mode, and the index of the mode
// among their arguments. fchmodat2 (Linux 6.6) is here for compilers that
// know it; the others answer ENOSYS for it (prologue.go).
var modeArgs = []struct {
	name string
	mode uint
}{
	{"chmod", 1}, {"fchmod", 1}, {"fchmodat", 2}, {"fchmodat2", 2},
	{"mkdir", 1}, {"mkdirat", 2}, {"mknod", 1}, {"mknodat", 2}, {"creat", 1},
}

// openArgs are the opens whose mode counts only with O_CREAT or O_TMPFILE
// in their flags.
var openArgs = []struct {
	name        string
	flags, mode uint
}{
	{"open", 1, 2}, {"openat", 2, 3},
}

// setIDRules refuse (EPERM) giving a file the set-user-ID or set-group-ID
// bit by any call, as systemd's RestrictSUIDSGID= does: the chmod family,
// mkdir, mknod and creat with either bit in the mode, and open and openat
// that create a file (O_CREAT, O_TMPFILE) with either. A command could
// otherwise leave a set-uid program in a host file it was handed (its
// stdout, an extra file) or wrote through a writable bind.
//
// The filter's default is EPERM, so these are the allow rules for the
// rest: a mode without the bits, or (open, openat) flags that create
// nothing. The kernel reads a mode as 16 bits and flags as 32; the masks
// test bits below those, so higher bits change nothing. openat2 takes
// its flags and mode in memory a filter cannot read: it answers ENOSYS,
// and libraries fall back to openat. Holding CAP_FSETID
// (Options.Capabilities) changes none of this.
func setIDRules() []Rule {
	allow := Action{Kind: Allow}
	var rs []Rule
	for _, c := range modeArgs {
		rs = append(rs, Rule{Names: []string{c.name}, Action: allow,
			Args: []Arg{{Index: c.mode, Op: MaskedEqual, Mask: SetID, Value: 0}}})
	}
	for _, c := range openArgs {
		rs = append(rs,
			Rule{Names: []string{c.name}, Action: allow,
				Args: []Arg{{Index: c.flags, Op: MaskedEqual, Mask: unix.O_CREAT | tmpfileBit, Value: 0}}},
			Rule{Names: []string{c.name}, Action: allow,
				Args: []Arg{{Index: c.mode, Op: MaskedEqual, Mask: SetID, Value: 0}}})
	}
	return append(rs, Rule{Names: []string{"openat2"}, Action: Action{Kind: Errno, Errno: syscall.ENOSYS}})
}

// prlimitRules let a command set only its own resource limits: prlimit64
// with pid 0 (the caller; the kernel reads a pid as 32 bits), or with no
// new limit (reading another's). Setting another process's limits (the
// sandbox's init, pid 1, whose limits every later command of a reused
// sandbox inherits) fails with EPERM. A process naming itself by its pid
// is refused too: a filter shared by every process cannot know it.
// setrlimit has no pid.
func prlimitRules() []Rule {
	allow := Action{Kind: Allow}
	return []Rule{
		{Names: []string{"prlimit64"}, Action: allow, Args: []Arg{{Index: 0, Op: MaskedEqual, Mask: 0xffffffff, Value: 0}}},
		{Names: []string{"prlimit64"}, Action: allow, Args: []Arg{{Index: 2, Op: Equal, Value: 0}}},
	}
}
