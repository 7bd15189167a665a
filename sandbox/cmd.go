package sandbox

import (
	"io"
	"os"
	"os/exec"
)

// Cmd is a command to run in a sandbox. Its fields mean what they mean in
// os/exec.Cmd, with two differences that make the sandbox strict by default:
// a nil Env gives the command an empty environment (plus PATH), not the
// host's, and Path is looked up inside the sandbox when it has no slash.
type Cmd struct {
	// Path is the program to run: an absolute path inside the sandbox, or a
	// name looked up in the PATH of Env (default isolate.DefaultPath).
	Path string
	// Args holds the arguments, including the program name as Args[0].
	// Empty means []string{Path}.
	Args []string
	// Env is the environment, as KEY=value strings. PATH is added when absent.
	Env []string
	// Dir is the working directory inside the sandbox; empty means /work.
	Dir string
	// Stdin, Stdout and Stderr are the command's standard streams. As in
	// os/exec, nil means the null device, an *os.File is passed as it is,
	// and anything else is copied through a pipe.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles are passed to the command as fds 3, 4, ... No other fd of
	// the host reaches the sandbox.
	ExtraFiles []*os.File
}

// Command returns a Cmd that runs name with the given arguments.
func Command(name string, arg ...string) *Cmd {
	return &Cmd{Path: name, Args: append([]string{name}, arg...)}
}

// FromExec converts an *exec.Cmd (as hashicorp/go-plugin and others build
// them) to a Cmd. Its SysProcAttr, Cancel and WaitDelay are ignored: the
// sandbox decides those. A nil Env stays empty rather than inheriting the
// host's environment.
func FromExec(c *exec.Cmd) *Cmd {
	return &Cmd{
		Path:       c.Path,
		Args:       c.Args,
		Env:        c.Env,
		Dir:        c.Dir,
		Stdin:      c.Stdin,
		Stdout:     c.Stdout,
		Stderr:     c.Stderr,
		ExtraFiles: c.ExtraFiles,
	}
}
