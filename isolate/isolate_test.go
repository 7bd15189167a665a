package isolate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSplitPath(t *testing.T) {
	tests := []struct {
		p, dir, base string
	}{
		{"/a", "/", "a"},
		{"/a/b", "/a", "b"},
		{"/a/b/c", "/a/b", "c"},
		{"/a/b/", "/a", "b"},
		{"/a//", "/", "a"},
		{"/etc/passwd", "/etc", "passwd"},
		{"a", "/", "a"},
		{"/", "/", ""},
	}
	for _, tt := range tests {
		dir, base := splitPath(tt.p)
		if dir != tt.dir || base != tt.base {
			t.Errorf("splitPath(%q) = %q, %q; want %q, %q", tt.p, dir, base, tt.dir, tt.base)
		}
	}
}

// writeFile creates name in dir with mode and returns its path.
func writeFile(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile applies the umask; set the mode exactly.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookPath(t *testing.T) {
	bin, bin2, data, empty := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	prog := writeFile(t, bin, "prog", 0o755)
	prog2 := writeFile(t, bin2, "prog", 0o755)
	userOnly := writeFile(t, bin, "mine", 0o700)
	writeFile(t, data, "prog", 0o644) // same name, not executable
	writeFile(t, data, "plain", 0o644)
	if err := os.Mkdir(filepath.Join(data, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		file  string
		env   []string
		want  string        // the path found, when errno is 0
		errno syscall.Errno // the error's errno, or 0
	}{
		{"executable", "prog", []string{"PATH=" + bin}, prog, 0},
		{"owner-only executable", "mine", []string{"PATH=" + bin}, userOnly, 0},
		{"skips a non-executable file", "prog", []string{"PATH=" + data + ":" + bin}, prog, 0},
		{"first executable wins", "prog", []string{"PATH=" + bin2 + ":" + bin}, prog2, 0},
		{"PATH among other variables", "prog", []string{"HOME=/x", "PATH=" + bin, "A=b"}, prog, 0},
		{"last PATH wins", "prog", []string{"PATH=" + empty, "PATH=" + bin}, prog, 0},
		{"PATH prefix is not PATH", "prog", []string{"PATHX=" + bin, "MYPATH=" + bin, "PATH=" + empty}, "", syscall.ENOENT},
		{"non-executable", "plain", []string{"PATH=" + data}, "", syscall.EACCES},
		{"non-executable and missing", "plain", []string{"PATH=" + empty + ":" + data + ":/nonexistent"}, "", syscall.EACCES},
		{"directory", "adir", []string{"PATH=" + data}, "", syscall.EACCES},
		{"missing", "nope", []string{"PATH=" + bin + ":" + data}, "", syscall.ENOENT},
		{"missing directory in PATH", "prog", []string{"PATH=/nonexistent/dir"}, "", syscall.ENOENT},
		{"env PATH, not the host's", "sh", []string{"PATH=" + empty}, "", syscall.ENOENT},
		{"slash: absolute", "/no/such/file", []string{"PATH=" + bin}, "/no/such/file", 0},
		{"slash: relative", "./prog", []string{"PATH=" + bin}, "./prog", 0},
		{"slash: non-executable", data + "/plain", nil, data + "/plain", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LookPath(tt.file, tt.env)
			if tt.errno == 0 {
				if err != nil || got != tt.want {
					t.Errorf("LookPath(%q, %q) = %q, %v; want %q, nil", tt.file, tt.env, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.errno) {
				t.Fatalf("LookPath(%q, %q) = %q, %v; want an error matching %v", tt.file, tt.env, got, err, tt.errno)
			}
			var ie *Error
			if !errors.As(err, &ie) || ie.Step != "exec" || ie.Path != tt.file {
				t.Errorf("LookPath(%q) error = %#v; want *Error{Step: \"exec\", Path: %q}", tt.file, err, tt.file)
			}
			if got != "" {
				t.Errorf("LookPath(%q) returned path %q with its error", tt.file, got)
			}
		})
	}
}

func TestLookPathEmptyElementIsCurrentDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "prog", 0o755)
	t.Chdir(dir)
	for _, path := range []string{"", ":/nonexistent", "/nonexistent:", "/nonexistent::/nonexistent2"} {
		got, err := LookPath("prog", []string{"PATH=" + path})
		if err != nil || got != "./prog" {
			t.Errorf("LookPath(prog) with PATH=%q = %q, %v; want \"./prog\", nil", path, got, err)
		}
	}
}

func TestLookPathDefaultPath(t *testing.T) {
	// Without PATH in env, DefaultPath is searched (and not the host's PATH).
	t.Setenv("PATH", t.TempDir())
	got, err := LookPath("sh", []string{"HOME=/"})
	if err != nil {
		t.Fatalf("LookPath(sh) without PATH: %v", err)
	}
	dir, base := filepath.Split(got)
	if base != "sh" || !strings.Contains(":"+DefaultPath+":", ":"+strings.TrimSuffix(dir, "/")+":") {
		t.Errorf("LookPath(sh) without PATH = %q; want sh in one of %s", got, DefaultPath)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Step: "bind", Path: "/data", Err: syscall.ENOENT}, "bind /data: no such file or directory"},
		{&Error{Step: "pivot_root", Err: syscall.EPERM}, "pivot_root: operation not permitted"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
		if !errors.Is(tt.err, tt.err.Err) {
			t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.err.Err)
		}
	}
	// stepErr keeps the innermost step and passes nil through.
	inner := &Error{Step: "mountpoint", Path: "/x", Err: syscall.ENOTDIR}
	if got := stepErr("bind", "/y", inner); got != error(inner) {
		t.Errorf("stepErr(bind, inner) = %v; want inner unchanged", got)
	}
	if got := stepErr("bind", "/y", nil); got != nil {
		t.Errorf("stepErr(nil) = %v; want nil", got)
	}
}
