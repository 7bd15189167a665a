package sandbox

// Files into and out of a Box at any time (Box.CopyIn, CopyOut, WriteFile,
// ReadFile): the same tar streams as Cmd.CopyIn and CopyOut, served by the
// Box's init alongside its commands (internal/pid1/copylive.go).

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// CopyIn extracts the tar stream r (archive/tar) beneath the directory dir
// of the Box: an absolute path inside it, or "" for WorkDir. It may be
// called at any time, while commands run, and returns once every entry is
// written.
//
// Names resolve as Cmd.CopyIn's do (see README, "Files in and out"):
// beneath an fd of dir, through no symlink and no mount, so that neither
// "..", nor an absolute or planted symlink, nor one swapped in while the
// copy works reaches anything outside dir; and dir itself is opened
// through no symlink (a command may have replaced a directory on its path
// with one: the copy then fails with ELOOP). The copy is bounded by the
// size of dir's mount (a full tmpfs: an error matching syscall.ENOSPC).
// A failure is a *SetupError whose Step is "Box.CopyIn" and whose Path
// names the entry; entries before it stay written. Cancelling ctx cuts
// the stream short: the copy fails with the entries so far written.
func (x *Box) CopyIn(ctx context.Context, dir string, r io.Reader) error {
	if r == nil {
		return &OptionError{"Box.CopyIn", nil, "the reader of the tar stream must not be nil"}
	}
	return x.copy(ctx, &Cmd{Dir: dir, CopyIn: r}, "Box.CopyIn")
}

// CopyOut writes a tar stream of the files and directory trees names,
// relative to the directory dir of the Box ("" for WorkDir), to w. It may
// be called at any time, while commands run. Names resolve as CopyIn's
// do, and only regular files, directories and symlinks (stored as
// symlinks, never followed) are read: a fifo, socket or device fails the
// copy rather than hang it. A failure is a *SetupError whose Step is
// "Box.CopyOut" and whose Path names the entry; w then holds a stream cut
// short. Cancelling ctx ends the copy with ctx's error.
func (x *Box) CopyOut(ctx context.Context, dir string, names []string, w io.Writer) error {
	if len(names) == 0 {
		return &OptionError{"Box.CopyOut", names, "must name at least one file or directory"}
	}
	if w == nil {
		return &OptionError{"Box.CopyOut", nil, "the writer of the tar stream must not be nil"}
	}
	for i, n := range names {
		if reason := copyOutName(n); reason != "" {
			return &OptionError{fmt.Sprintf("Box.CopyOut names[%d]", i), n, reason}
		}
	}
	return x.copy(ctx, &Cmd{Dir: dir, CopyOut: names, CopyOutTo: ctxWriter{ctx, w}}, "Box.CopyOut")
}

// WriteFile writes data to the file name in the Box (an absolute path, or
// one relative to WorkDir), replacing what the name held, with the
// permission bits of perm. Its directory must exist. It is CopyIn of a
// one-entry stream, with its guarantees.
func (x *Box) WriteFile(name string, data []byte, perm fs.FileMode) error {
	dir, base, err := splitBoxName("Box.WriteFile", name)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: base, Mode: int64(perm.Perm()), Size: int64(len(data)), ModTime: time.Now()}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("sandbox: Box.WriteFile: %w", err)
	}
	tw.Write(data)
	tw.Close()
	return x.copy(context.Background(), &Cmd{Dir: dir, CopyIn: &buf}, "Box.WriteFile")
}

// ReadFile returns the contents of the regular file name in the Box (an
// absolute path, or one relative to WorkDir). It is CopyOut of that one
// file, with its guarantees: a symlink is not followed (an error that says
// so), nor is a fifo or device opened.
func (x *Box) ReadFile(name string) ([]byte, error) {
	dir, base, err := splitBoxName("Box.ReadFile", name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := x.copy(context.Background(), &Cmd{Dir: dir, CopyOut: []string{base}, CopyOutTo: &buf}, "Box.ReadFile"); err != nil {
		return nil, err
	}
	tr := tar.NewReader(&buf)
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("sandbox: Box.ReadFile %s: %w", name, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, &SetupError{Step: "Box.ReadFile", Path: name, Message: "not a regular file (" + typeName(hdr.Typeflag) + ")"}
	}
	return io.ReadAll(tr)
}

// typeName names a tar entry's type.
func typeName(t byte) string {
	switch t {
	case tar.TypeDir:
		return "a directory"
	case tar.TypeSymlink:
		return "a symlink, which is not followed"
	}
	return "type " + string(t)
}

// splitBoxName splits name, absolute or relative to WorkDir, into its
// directory and last element, or says what is wrong with it.
func splitBoxName(field, name string) (dir, base string, err error) {
	if !path.IsAbs(name) {
		name = path.Join(WorkDir, name)
	}
	dir, base = path.Split(path.Clean(name))
	if base == "" || base == "." || base == ".." || strings.ContainsRune(name, 0) {
		return "", "", &OptionError{field, name, "must name a file: an absolute path inside the Box, or one relative to " + WorkDir}
	}
	return dir, base, nil
}

// copy runs cmd, a copy alone (no command: Path is empty), in the Box,
// and waits for it; field names the method in its errors.
func (x *Box) copy(ctx context.Context, cmd *Cmd, field string) error {
	if cmd.Dir == "" {
		cmd.Dir = WorkDir
	}
	if !path.IsAbs(cmd.Dir) {
		return &OptionError{field, cmd.Dir, "the directory must be an absolute path inside the Box, or empty for " + WorkDir}
	}
	if x.ending() {
		return x.doneError()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := newProcess(x.b, time.Now())
	p.boxed = x
	stop := context.AfterFunc(ctx, p.closeStdin) // cuts a copy in short
	defer stop()
	if err := p.startCommand(cmd); err != nil {
		p.closeStdin()
		return copyError(ctx, p, err, field)
	}
	_, err := p.Wait()
	return copyError(ctx, p, err, field)
}

// copyError names field in err, the error of p, a copy alone, and says
// when ctx ended it.
func copyError(ctx context.Context, p *Process, err error, field string) error {
	if err == nil {
		return nil
	}
	var se *SetupError
	if errors.As(err, &se) && (se.Step == "copyin" || se.Step == "copyout") {
		se.Step = field
	}
	if ctx.Err() != nil {
		return fmt.Errorf("sandbox: %s interrupted: %w (%w)", field, ctx.Err(), err)
	}
	if rerr := p.copyInErr.Load(); rerr != nil {
		return fmt.Errorf("sandbox: %s: reading the stream: %w (%w)", field, *rerr, err)
	}
	return err
}

// ctxWriter is w until ctx ends; then its writes fail with ctx's error,
// which ends the copy out.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
