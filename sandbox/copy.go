package sandbox

// Files in and out of a run (Cmd.CopyIn, Cmd.CopyOut): tar streams
// through pipes to the init, which extracts and archives them beneath the
// command's directory (internal/pid1/files.go, isolate.ExtractTar and
// ArchiveTar). No host path is ever involved.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/corral-dev/corral/internal/protocol"
)

// validateCopies checks the copy fields of c.
func (c *Cmd) validateCopies() error {
	if len(c.CopyOut) > 0 && c.CopyOutTo == nil {
		return &OptionError{"Cmd.CopyOutTo", nil, "must be set with Cmd.CopyOut: the writer the tar stream of the files goes to"}
	}
	if len(c.CopyOut) == 0 && c.CopyOutTo != nil {
		return &OptionError{"Cmd.CopyOut", nil, "must name the files and directories to archive to Cmd.CopyOutTo"}
	}
	for i, n := range c.CopyOut {
		if reason := copyOutName(n); reason != "" {
			return &OptionError{fmt.Sprintf("Cmd.CopyOut[%d]", i), n, reason}
		}
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"Cmd.CopyIn", c.CopyIn}, {"Cmd.CopyOutTo", c.CopyOutTo}} {
		if err := notDir(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// copyOutName says what is wrong with a name of Cmd.CopyOut, or "".
func copyOutName(n string) string {
	switch {
	case n == "" || strings.Trim(n, "./") == "":
		return "must name a file or directory beneath Cmd.Dir, not Dir itself"
	case strings.HasPrefix(n, "/"):
		return "must be relative to Cmd.Dir (default " + WorkDir + ")"
	case strings.ContainsRune(n, 0):
		return "must not contain a NUL byte"
	}
	for c := range strings.SplitSeq(n, "/") {
		if c == ".." {
			return "must not have a \"..\" component: names stay beneath Cmd.Dir"
		}
	}
	return ""
}

// copyFiles returns the init's ends of the pipes of cmd's copies, which
// come with the Exec after its first base files, and their indices there.
// A goroutine feeds Cmd.CopyIn into its pipe (p.copyIn, closed with
// stdin), and one copies the copy out's pipe to Cmd.CopyOutTo (p.copies:
// Wait waits for it). The ends go in p.childStdio, closed once sent.
func (p *Process) copyFiles(cmd *Cmd, base int) ([]*os.File, protocol.CopyFiles, error) {
	var files []*os.File
	var cf protocol.CopyFiles
	if cmd.CopyIn != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, cf, fmt.Errorf("copy-in pipe: %w", err)
		}
		p.childStdio = append(p.childStdio, r)
		p.copyIn = w
		go func() {
			// The init reports a stream cut short; a failed read says why
			// (the init sees EOF, and answers, only after the Close).
			if _, err := io.Copy(w, cmd.CopyIn); err != nil && !errors.Is(err, syscall.EPIPE) {
				p.copyInErr.Store(&err)
			}
			w.Close()
		}()
		cf.CopyIn = base + len(files)
		files = append(files, r)
	}
	if len(cmd.CopyOut) > 0 {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, cf, fmt.Errorf("copy-out pipe: %w", err)
		}
		p.childStdio = append(p.childStdio, w)
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			if _, err := io.Copy(cmd.CopyOutTo, r); err != nil {
				p.copyErr.CompareAndSwap(nil, &err)
			}
			r.Close()
		}()
		cf.CopyOut, cf.CopyOutFile = cmd.CopyOut, base+len(files)
		files = append(files, w)
	}
	return files, cf, nil
}

// copyInFailed names Cmd.CopyIn in err when the init failed to extract
// it, and says why when reading it failed.
func (p *Process) copyInFailed(err error) error {
	var se *SetupError
	if errors.As(err, &se) && se.Step == "copyin" {
		se.Step = "Cmd.CopyIn"
		if rerr := p.copyInErr.Load(); rerr != nil {
			return fmt.Errorf("sandbox: reading Cmd.CopyIn: %w (%w)", *rerr, se)
		}
	}
	return err
}

// copyFailed is the error of the init's failure f to copy field.
func copyFailed(f *protocol.Failed, field string) error {
	return &SetupError{Step: field, Path: f.Path, Errno: syscall.Errno(f.Errno), Message: f.Message}
}
