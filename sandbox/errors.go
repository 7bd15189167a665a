package sandbox

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrNotSupported is matched (with errors.Is) by every error that reports a
// host that lacks something a sandbox needs. The concrete error is a
// *FeatureError, which says what is missing and how to fix it.
var ErrNotSupported = errors.New("not supported on this host")

// ErrMainNotCalled is returned by Run when the program did not call Main at
// the start of main (or TestMain). Without it the re-executed child would run
// the program's own main instead of setting up the sandbox.
var ErrMainNotCalled = errors.New("sandbox: sandbox.Main was not called: call it first thing in main() (and in TestMain for tests)")

// ErrPoolClosed is returned by Prewarm after Sandbox.Close.
var ErrPoolClosed = errors.New("sandbox: the pool is closed")

// FeatureError reports a host feature that is missing or disabled.
// It matches ErrNotSupported.
type FeatureError struct {
	Feature string // what is missing, e.g. "user namespaces"
	Reason  string // why, e.g. "kernel.apparmor_restrict_unprivileged_userns=1"
	Fix     string // what to do about it; may be empty
	Err     error  // the underlying error, if any
}

func (e *FeatureError) Error() string {
	s := "sandbox: " + e.Feature + " not available"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Fix != "" {
		s += " (fix: " + e.Fix + ")"
	}
	return s
}

// Is reports whether target is ErrNotSupported.
func (e *FeatureError) Is(target error) bool { return target == ErrNotSupported }

// Unwrap returns the underlying error.
func (e *FeatureError) Unwrap() error { return e.Err }

// OptionError reports an invalid option or command field. Field names it the
// way it is spelled in Go, e.g. "Options.Mounts[1].Destination".
type OptionError struct {
	Field  string
	Value  any
	Reason string // what is wrong and what to do instead
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("sandbox: invalid %s %q: %s", e.Field, fmt.Sprint(e.Value), e.Reason)
}

// SetupError reports a step of the sandbox's set-up that failed inside the
// new namespaces, or the failure to start the command. errors.Is matches the
// errno, so errors.Is(err, syscall.EPERM) and errors.Is(err, fs.ErrNotExist)
// work.
type SetupError struct {
	Step    string        // the set-up step, e.g. "mount", "pivot_root", "exec"
	Path    string        // the path involved, if any
	Errno   syscall.Errno // the errno, if the step failed in a system call
	Message string        // more detail, if any

	cause error // the host's own reason, for errors.Is within this package (errInitExited)
}

func (e *SetupError) Error() string {
	s := "sandbox: " + e.Step
	if e.Path != "" {
		s += " " + e.Path
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Errno != 0 {
		s += ": " + e.Errno.Error()
	}
	return s
}

// Unwrap returns the errno; without one, the host's own cause if there is
// one (for the step "init", that the init exited), or nil.
func (e *SetupError) Unwrap() error {
	if e.Errno == 0 {
		return e.cause
	}
	return e.Errno
}
