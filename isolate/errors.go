package isolate

import "errors"

// Error is a failed set-up step.
type Error struct {
	Step string // e.g. "bind", "tmpfs", "pivot_root", "exec"
	Path string // the path inside the sandbox (or the host source), if any
	Err  error  // usually a syscall.Errno
}

func (e *Error) Error() string {
	s := e.Step
	if e.Path != "" {
		s += " " + e.Path
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func stepErr(step, path string, err error) error {
	if err == nil {
		return nil
	}
	var ie *Error
	if errors.As(err, &ie) {
		return err
	}
	return &Error{Step: step, Path: path, Err: err}
}
