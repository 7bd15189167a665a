package isolate

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ruleset is a sandbox's Landlock filesystem rules, kept ready for each of
// its commands: the rule paths are opened once (O_PATH), and a ruleset of
// the rules alone is built once, for commands passed no file that needs a
// rule of its own. A Ruleset is not safe for concurrent use.
type Ruleset struct {
	abi     int
	handled uint64
	scopes  uint64 // Landlock scopes of each command's domain (ScopeSignal)
	rules   []heldRule
	base    int // the ruleset of rules alone
}

// heldRule is a rule's path, opened, and the access it grants.
type heldRule struct {
	fd       int
	allowed  uint64
	file     bool // not a directory: a rule on this one inode
	dev, ino uint64
}

// Rights a passed file's open mode carries, as Landlock names them.
const (
	llReadFile  = unix.LANDLOCK_ACCESS_FS_READ_FILE
	llWriteFile = unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE
)

// NewRuleset opens the rules' paths and builds the ruleset of the rules
// alone. Every filesystem right the kernel's Landlock ABI knows is denied
// except where a rule grants it. It fails with an error wrapping
// EOPNOTSUPP or ENOSYS where the kernel has no Landlock. Each command's
// domain is also scoped by scopes (ScopeSignal), of which it applies those
// the kernel knows: a domain nested in the launcher's that is not scoped
// itself could still signal the launcher, which shares the outer scope.
func NewRuleset(rules []LandlockRule, scopes uint64) (*Ruleset, error) {
	abi, err := LandlockABI()
	if abi == 0 {
		return nil, &Error{Step: "landlock", Err: err}
	}
	r := &Ruleset{abi: abi, handled: handledAccess(abi), scopes: scopes & LandlockScopes(abi), base: -1}
	for _, rule := range rules {
		fd, err := unix.Open(rule.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			continue // an optional mount that was not there
		}
		if err != nil {
			r.Close()
			return nil, &Error{Step: "landlock", Path: rule.Path, Err: err}
		}
		h := heldRule{fd: fd, allowed: rule.allowed(r.handled)}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			h.allowed &= llFile
			h.file, h.dev, h.ino = true, st.Dev, st.Ino
		}
		r.rules = append(r.rules, h)
	}
	base, err := r.build(nil)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.base = base
	return r, nil
}

// allowed is the access the rule grants, of the handled rights.
func (r LandlockRule) allowed(handled uint64) uint64 {
	allowed := uint64(llRead)
	switch {
	case r.Write:
		allowed = handled
	case r.Devices:
		allowed |= llWrites | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return allowed & handled
}

// For returns the ruleset for a command passed files (its fds 0, 1, 2,
// ...): the rules, and for each file that is a regular file or a
// character device, a rule on that file alone that grants what its open
// mode does: reading for one open for reading, writing and truncating for
// one open for writing, and device ioctls on a device; an O_PATH fd
// grants nothing. A command can then reopen such a file by its path in
// /proc/self/fd (/dev/stdin) as it could use the fd, and no further;
// Landlock cannot tell O_APPEND, so an fd open for appending reopens for
// writing anywhere, which the fd's holder can do anyway (ftruncate, then
// write). Rules on one inode add up: two fds of one file, one read-only
// and one write-only, reopen for both, as the command can use both. Where
// no file needs a rule, it returns the ruleset of the rules
// alone, which stays the Ruleset's; fresh says the caller must close fd.
func (r *Ruleset) For(files []uintptr) (fd int, fresh bool, err error) {
	var extra []heldRule
	for _, f := range files {
		if h, ok := r.fileRule(int(f)); ok {
			extra = append(extra, h)
		}
	}
	if len(extra) == 0 {
		return r.base, false, nil
	}
	fd, err = r.build(extra)
	return fd, err == nil, err
}

// fileRule returns the rule a passed file needs, if any: none for pipes,
// sockets, directories (refused earlier) and O_PATH fds, and none where a
// rule on the same inode already grants as much (/dev/null).
func (r *Ruleset) fileRule(fd int) (heldRule, bool) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return heldRule{}, false
	}
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFREG && typ != unix.S_IFCHR {
		return heldRule{}, false
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_PATH != 0 {
		return heldRule{}, false
	}
	var access uint64
	switch fl & unix.O_ACCMODE {
	case unix.O_RDONLY:
		access = llReadFile
	case unix.O_WRONLY:
		access = llWriteFile
	case unix.O_RDWR:
		access = llReadFile | llWriteFile
	}
	if typ == unix.S_IFCHR {
		access |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	access &= r.handled
	if access == 0 {
		return heldRule{}, false
	}
	for _, h := range r.rules {
		if h.file && h.dev == st.Dev && h.ino == st.Ino && access&^h.allowed == 0 {
			return heldRule{}, false
		}
	}
	return heldRule{fd: fd, allowed: access}, true
}

// build creates a ruleset of the rules and extra. A passed file on a
// mount of the kernel's own (a memfd, say), on which Landlock refuses a
// rule with EBADFD, is left out: the command uses it through its fd
// (Landlock does not check a reopen of such a file by path either).
func (r *Ruleset) build(extra []heldRule) (int, error) {
	attr := unix.LandlockRulesetAttr{Handled_access_fs: r.handled, Scoped: r.scopes}
	size := uintptr(8) // the ABI 1 struct
	if r.scopes != 0 {
		size = 24 // up to scoped (ABI 6)
	}
	rfd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return -1, &Error{Step: "landlock", Err: errno}
	}
	for i, list := range [][]heldRule{r.rules, extra} {
		for _, h := range list {
			pb := unix.LandlockPathBeneathAttr{Allowed_access: h.allowed, Parent_fd: int32(h.fd)}
			_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rfd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
			if errno == unix.EBADFD && i == 1 {
				continue // a passed file on an internal mount: no rule (see above)
			}
			if errno != 0 {
				unix.Close(int(rfd))
				return -1, &Error{Step: "landlock", Err: errno}
			}
		}
	}
	return int(rfd), nil
}

// Close closes the rule paths and the ruleset of the rules alone.
func (r *Ruleset) Close() {
	for _, h := range r.rules {
		unix.Close(h.fd)
	}
	if r.base >= 0 {
		unix.Close(r.base)
	}
	r.rules, r.base = nil, -1
}
