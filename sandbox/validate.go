package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/corral-dev/corral/internal/paths"
	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox/seccomp"
	"golang.org/x/sys/unix"
)

// validate checks the options before anything is created. Every error
// names the field and says what to do instead.
func (o *Options) validate() error {
	if o.Root != "" {
		if !path.IsAbs(o.Root) {
			return &OptionError{"Options.Root", o.Root, "must be an absolute host path"}
		}
		st, err := os.Stat(o.Root)
		if err != nil {
			return &OptionError{"Options.Root", o.Root, "cannot be used: " + err.Error()}
		}
		if !st.IsDir() {
			return &OptionError{"Options.Root", o.Root, "must be a directory"}
		}
	}
	if err := o.validateImage(); err != nil {
		return err
	}
	if o.Network != NetworkNone && o.Network != NetworkHost && o.Network != NetworkEgress {
		return &OptionError{"Options.Network", o.Network, "must be NetworkNone, NetworkHost or NetworkEgress"}
	}
	if err := o.validateEgress(); err != nil {
		return err
	}
	if o.Denials != nil && o.Seccomp.Disabled {
		return &OptionError{"Options.Denials", fmt.Sprintf("%T", o.Denials), "needs the seccomp filter, whose refusals it reports: Options.Seccomp.Disabled leaves none; drop one of the two"}
	}
	if o.Hostname != "" {
		if err := checkHostname(o.Hostname); err != "" {
			return &OptionError{"Options.Hostname", o.Hostname, err}
		}
	}
	if err := o.Limits.validate(); err != nil {
		return err
	}
	if err := o.Seccomp.Validate(); err != nil {
		// The same field names as any option's: Options.Seccomp.Rules[i]....
		var re *seccomp.RuleError
		if errors.As(err, &re) {
			return &OptionError{fmt.Sprintf("Options.Seccomp.Rules[%d].%s", re.Rule, re.Field), re.Value, re.Reason}
		}
		return fmt.Errorf("sandbox: Options.Seccomp: %w", err)
	}
	if o.Init != "" {
		if _, err := validateInit(o.Init); err != nil {
			return err
		}
	}
	if o.Pool < 0 || o.Pool > MaxPool {
		return &OptionError{"Options.Pool", o.Pool, fmt.Sprintf("must be between 0 (no pool) and %d", MaxPool)}
	}
	if o.Reuse {
		switch {
		case o.Pool == 0:
			return &OptionError{"Options.Reuse", o.Reuse, "needs Options.Pool > 0: reused sandboxes wait in the pool"}
		case len(o.Capabilities) > 0:
			return &OptionError{"Options.Reuse", o.Reuse, "cannot be combined with Options.Capabilities: a command with capabilities can change what a reset cannot restore"}
		case o.Seccomp.Disabled:
			return &OptionError{"Options.Reuse", o.Reuse, "needs the seccomp filter: without it a run could leave keys in the user's keyrings for the next"}
		}
		if i, ok := o.Seccomp.Refuses("unshare"); ok {
			return &OptionError{fmt.Sprintf("Options.Seccomp.Rules[%d]", i), "unshare",
				"refuses unshare, which a reused sandbox calls under the filter between runs (a new IPC namespace for the next); commands cannot unshare anyway, holding no capabilities: drop the rule, or Options.Reuse"}
		}
	}
	if o.Landlock < LandlockAuto || o.Landlock > LandlockRequired {
		return &OptionError{"Options.Landlock", o.Landlock, "must be LandlockAuto, LandlockOff or LandlockRequired"}
	}
	for i, c := range o.Capabilities {
		if capability(c) < 0 {
			return &OptionError{fmt.Sprintf("Options.Capabilities[%d]", i), c, "is not a capability name (e.g. CAP_NET_BIND_SERVICE)"}
		}
		// A file capability written in the sandbox's user namespace is
		// owned by its root, the caller outside: when that is host root,
		// the kernel honours it on the host, and a command could leave a
		// privileged program in a file it is given (as set-uid bits would).
		// The init shares the command's user namespace, and only its not
		// being dumpable and its capabilities keep the command from
		// tracing it; CAP_SYS_PTRACE overrides both, and with Landlock off
		// the launcher thread shares the command's Landlock domain (the
		// signal scope's). Debuggers need no
		// capability to trace the command's own processes.
		if capability(c) == unix.CAP_SYS_PTRACE {
			return &OptionError{fmt.Sprintf("Options.Capabilities[%d]", i), c,
				"cannot be kept: it would let the command trace and rewrite the sandbox's init; ptrace among the command's own processes (gdb, strace, sanitizers) needs no capability, so drop it"}
		}
		if capability(c) == unix.CAP_SETFCAP && os.Geteuid() == 0 {
			return &OptionError{fmt.Sprintf("Options.Capabilities[%d]", i), c,
				"cannot be kept when the caller is root: file capabilities the command set would be honoured on the host; run as an ordinary user to keep it"}
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"Core", o.Rlimits.Core}, {"FileSize", o.Rlimits.FileSize}, {"Stack", o.Rlimits.Stack},
		{"LockedMemory", o.Rlimits.LockedMemory}, {"MessageQueues", o.Rlimits.MessageQueues}} {
		if f.v < 0 {
			return &OptionError{"Options.Rlimits." + f.name, f.v, "must be zero or positive"}
		}
	}
	if o.CgroupParent != "" {
		for _, part := range strings.Split(o.CgroupParent, "/") {
			if part == ".." || part == "." {
				return &OptionError{"Options.CgroupParent", o.CgroupParent, "must be a clean path without \".\" or \"..\""}
			}
		}
	}
	seen := map[string]int{}
	for i, m := range o.Mounts {
		field := fmt.Sprintf("Options.Mounts[%d]", i)
		if err := m.validate(field); err != nil {
			return err
		}
		if j, dup := seen[m.Destination]; dup {
			return &OptionError{field + ".Destination", m.Destination, fmt.Sprintf("already used by Options.Mounts[%d]; mount each destination once", j)}
		}
		seen[m.Destination] = i
		// Mounts apply in order: one listed after a mount it contains would hide it.
		for j, earlier := range o.Mounts[:i] {
			if paths.Beneath(earlier.Destination, m.Destination) {
				return &OptionError{field + ".Destination", m.Destination, fmt.Sprintf("contains Options.Mounts[%d].Destination %q, which is listed earlier and would be hidden; list the containing mount first", j, earlier.Destination)}
			}
		}
	}
	return nil
}

func (m *Mount) validate(field string) error {
	d := m.Destination
	switch {
	case d == "" || !path.IsAbs(d):
		return &OptionError{field + ".Destination", d, "must be an absolute path inside the sandbox"}
	case path.Clean(d) != d:
		return &OptionError{field + ".Destination", d, "must be a clean path (no \"..\", \".\", \"//\" or trailing \"/\"); use " + path.Clean(d)}
	case d == "/":
		return &OptionError{field + ".Destination", d, "cannot be \"/\"; use Options.Root for a custom root"}
	case d == "/proc" || strings.HasPrefix(d, "/proc/"):
		return &OptionError{field + ".Destination", d, "/proc is the sandbox's own and cannot be mounted over"}
	}
	switch m.Type {
	case BindMount:
		if m.Source == "" || !path.IsAbs(m.Source) {
			return &OptionError{field + ".Source", m.Source, "must be an absolute host path for a bind mount"}
		}
		if _, err := os.Stat(m.Source); err != nil {
			return &OptionError{field + ".Source", m.Source, "cannot be bound: " + err.Error()}
		}
		if m.Size != 0 {
			return &OptionError{field + ".Size", m.Size, "applies only to tmpfs mounts; remove it"}
		}
	case TmpfsMount:
		if m.Source != "" {
			return &OptionError{field + ".Source", m.Source, "must be empty for a tmpfs mount"}
		}
		if m.Size < 0 {
			return &OptionError{field + ".Size", m.Size, "must be zero (the default size) or a positive number of bytes"}
		}
	default:
		return &OptionError{field + ".Type", m.Type, "must be BindMount or TmpfsMount"}
	}
	return nil
}

// checkHostname returns why name is not a valid host name, or "".
func checkHostname(name string) string {
	if len(name) > 64 {
		return "must be at most 64 bytes"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return "may hold only letters, digits, '-' and '.'"
		}
	}
	return ""
}

// validateImage checks Options.Image and Images.
func (o *Options) validateImage() error {
	switch {
	case o.Image != "" && o.Root != "":
		return &OptionError{"Options.Image", o.Image, "cannot be combined with Options.Root: both name the root filesystem; drop one"}
	case o.Image != "" && o.Images == nil:
		return &OptionError{"Options.Images", nil, "must be set with Options.Image: the ImageSource that opens it (package sandbox/image's Store, e.g. image.Default())"}
	case o.Image == "" && o.Images != nil:
		return &OptionError{"Options.Image", o.Image, "must name the image to run with Options.Images set (or leave Options.Images nil)"}
	case strings.IndexByte(o.Image, 0) >= 0:
		return &OptionError{"Options.Image", o.Image, "must not contain a NUL byte"}
	}
	return nil
}

// validate checks the command before anything is created; with an image
// (Options.Image), Path may be empty: the image's entrypoint runs.
func (c *Cmd) validate(image bool) error {
	if c == nil {
		return &OptionError{"Cmd", nil, "must not be nil; use sandbox.Command"}
	}
	if c.Path == "" && !image {
		return &OptionError{"Cmd.Path", c.Path, "must name the program to run"}
	}
	for i, a := range c.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return &OptionError{fmt.Sprintf("Cmd.Args[%d]", i), a, "must not contain a NUL byte"}
		}
	}
	for i, kv := range c.Env {
		if !strings.Contains(kv, "=") || strings.HasPrefix(kv, "=") || strings.IndexByte(kv, 0) >= 0 {
			return &OptionError{fmt.Sprintf("Cmd.Env[%d]", i), kv, "must have the form KEY=value"}
		}
	}
	if c.Dir != "" && !path.IsAbs(c.Dir) {
		return &OptionError{"Cmd.Dir", c.Dir, "must be an absolute path inside the sandbox"}
	}
	if n := len(c.ExtraFiles); n > protocol.MaxFiles-3 {
		return &OptionError{"Cmd.ExtraFiles", n, fmt.Sprintf("must hold at most %d files (the kernel passes %d at once, stdio included)", protocol.MaxFiles-3, protocol.MaxFiles)}
	}
	for i, f := range c.ExtraFiles {
		if f == nil {
			return &OptionError{fmt.Sprintf("Cmd.ExtraFiles[%d]", i), nil, "must not be nil"}
		}
	}
	if err := c.validateCopies(); err != nil {
		return err
	}
	for field, v := range map[string]any{"Cmd.Stdin": c.Stdin, "Cmd.Stdout": c.Stdout, "Cmd.Stderr": c.Stderr} {
		if err := notDir(field, v); err != nil {
			return err
		}
	}
	if err := c.validateTTY(); err != nil {
		return err
	}
	for i, f := range c.ExtraFiles {
		if err := notDir(fmt.Sprintf("Cmd.ExtraFiles[%d]", i), f); err != nil {
			return err
		}
	}
	return nil
}

// notDir refuses a directory passed as one of the command's files: its fd
// would open the host's tree around it (openat(fd, "..")), which is what
// binds are for.
func notDir(field string, v any) error {
	f, ok := v.(*os.File)
	if !ok || f == nil {
		return nil
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return &OptionError{field, f.Name(), "must not be a directory: its fd would open the host's file tree around it; bind the directory instead"}
	}
	return nil
}

// capability returns the number of the named capability, or -1.
func capability(name string) int {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for i, c := range isolate.CapabilityNames {
		if c == n {
			return i
		}
	}
	return -1
}
