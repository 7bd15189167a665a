package isolate

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// entry is one tar entry of a test stream.
type entry struct {
	name, body, link string
	kind             byte
}

func tarOf(t *testing.T, es ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		kind := e.kind
		if kind == 0 {
			kind = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: kind, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if kind != tar.TypeReg {
			h.Size = 0
		}
		if kind == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if kind == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return b.Bytes()
}

// layout is a test's directory to extract into or archive from, and a
// directory outside it, standing for the host, that must never change
// and whose file "secret" must never be read.
type layout struct{ dir, outside string }

func newLayout(t *testing.T) layout {
	t.Helper()
	base := t.TempDir()
	l := layout{filepath.Join(base, "dir"), filepath.Join(base, "outside")}
	for _, d := range []string{l.dir, l.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l.outside, "secret"), []byte("HOST-SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

// untouched fails t when anything outside changed.
func (l layout) untouched(t *testing.T) {
	t.Helper()
	if c := l.changed(); c != "" {
		t.Fatal(c)
	}
}

// changed says what changed outside, or "".
func (l layout) changed() string {
	es, _ := os.ReadDir(l.outside)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"secret"}) {
		return fmt.Sprintf("outside holds %v, want [secret] alone", names)
	}
	if b, _ := os.ReadFile(filepath.Join(l.outside, "secret")); string(b) != "HOST-SECRET" {
		return fmt.Sprintf("outside secret is now %q", b)
	}
	return ""
}

func (l layout) open(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Open(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// resolutions runs f with openat2 and with the walk that replaces it.
func resolutions(t *testing.T, f func(t *testing.T)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			walkOnly.Store(walk)
			defer walkOnly.Store(false)
			f(t)
		})
	}
}

func TestExtractTarEscapes(t *testing.T) {
	tests := []struct {
		name    string
		plant   func(l layout) // before the extraction, in dir
		entries func(l layout) []entry
		want    error // errors.Is; nil: succeeds
		check   func(t *testing.T, l layout)
	}{
		{name: "dotdot", entries: func(layout) []entry { return []entry{{name: "../outside/x", body: "x"}} }, want: ErrEscape},
		{name: "dotdot inside", entries: func(layout) []entry { return []entry{{name: "a/../../outside/x", body: "x"}} }, want: ErrEscape},
		{name: "absolute", entries: func(l layout) []entry { return []entry{{name: l.outside + "/x", body: "x"}} }, want: ErrEscape},
		{name: "through symlink entry, absolute target",
			entries: func(l layout) []entry {
				return []entry{{name: "l", kind: tar.TypeSymlink, link: l.outside}, {name: "l/x", body: "x"}}
			}, want: syscall.ELOOP,
			check: func(t *testing.T, l layout) {
				if got, _ := os.Readlink(filepath.Join(l.dir, "l")); got != l.outside {
					t.Errorf("symlink entry holds %q, want %q as it is", got, l.outside)
				}
			}},
		{name: "through symlink entry, relative target",
			entries: func(layout) []entry {
				return []entry{{name: "r", kind: tar.TypeSymlink, link: "../outside"}, {name: "r/x", body: "x"}}
			}, want: syscall.ELOOP},
		{name: "file over symlink entry to a host file",
			entries: func(l layout) []entry {
				return []entry{{name: "s", kind: tar.TypeSymlink, link: l.outside + "/secret"}, {name: "s", body: "overwritten"}}
			},
			check: func(t *testing.T, l layout) {
				if b, _ := os.ReadFile(filepath.Join(l.dir, "s")); string(b) != "overwritten" {
					t.Errorf("s holds %q", b)
				}
			}},
		{name: "planted symlink to the outside",
			plant:   func(l layout) { os.Symlink(l.outside, filepath.Join(l.dir, "p")) },
			entries: func(layout) []entry { return []entry{{name: "p/x", body: "x"}} }, want: syscall.ELOOP},
		{name: "planted symlink to /",
			plant:   func(l layout) { os.Symlink("/", filepath.Join(l.dir, "p")) },
			entries: func(l layout) []entry { return []entry{{name: "p" + l.outside + "/x", body: "x"}} }, want: syscall.ELOOP},
		{name: "planted symlink as a parent made implicitly",
			plant:   func(l layout) { os.Symlink(l.outside, filepath.Join(l.dir, "p")) },
			entries: func(layout) []entry { return []entry{{name: "p/sub/x", body: "x"}} }, want: syscall.ELOOP},
		{name: "directory entry over planted symlink",
			plant:   func(l layout) { os.Symlink(l.outside, filepath.Join(l.dir, "p")) },
			entries: func(layout) []entry { return []entry{{name: "p/", kind: tar.TypeDir}} }, want: syscall.ELOOP},
		{name: "planted symlink to a host file, file entry",
			plant:   func(l layout) { os.Symlink(l.outside+"/secret", filepath.Join(l.dir, "p")) },
			entries: func(layout) []entry { return []entry{{name: "p", body: "x"}} }},
		{name: "hard link to a host file",
			entries: func(l layout) []entry { return []entry{{name: "h", kind: tar.TypeLink, link: l.outside + "/secret"}} },
			want:    ErrEscape},
		{name: "hard link up",
			entries: func(layout) []entry { return []entry{{name: "h", kind: tar.TypeLink, link: "../outside/secret"}} },
			want:    ErrEscape},
		{name: "hard link through a planted symlink",
			plant:   func(l layout) { os.Symlink(l.outside, filepath.Join(l.dir, "p")) },
			entries: func(layout) []entry { return []entry{{name: "h", kind: tar.TypeLink, link: "p/secret"}} },
			want:    syscall.ELOOP},
		{name: "hard link to a planted symlink links the symlink",
			plant:   func(l layout) { os.Symlink(l.outside+"/secret", filepath.Join(l.dir, "p")) },
			entries: func(layout) []entry { return []entry{{name: "h", kind: tar.TypeLink, link: "p"}} },
			check: func(t *testing.T, l layout) {
				if fi, err := os.Lstat(filepath.Join(l.dir, "h")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("h: %v, %v; want a symlink", fi, err)
				}
			}},
		{name: "hard link beneath", entries: func(layout) []entry {
			return []entry{{name: "a", body: "A"}, {name: "h", kind: tar.TypeLink, link: "./a"}}
		}},
		{name: "char device", entries: func(layout) []entry { return []entry{{name: "null", kind: tar.TypeChar}} }},
		{name: "block device", entries: func(layout) []entry { return []entry{{name: "sda", kind: tar.TypeBlock}} }},
		{name: "fifo", entries: func(layout) []entry { return []entry{{name: "f", kind: tar.TypeFifo}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resolutions(t, func(t *testing.T) {
				l := newLayout(t)
				if tt.plant != nil {
					tt.plant(l)
				}
				err := ExtractTar(l.open(t), bytes.NewReader(tarOf(t, tt.entries(l)...)))
				isDevice := strings.Contains(tt.name, "device") || tt.name == "fifo"
				switch {
				case isDevice:
					if err == nil || !strings.Contains(err.Error(), "device and fifo entries are refused") {
						t.Fatalf("err = %v, want the refusal of devices", err)
					}
				case tt.want == nil && err != nil:
					t.Fatalf("err = %v, want none", err)
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				var ie *Error
				if err != nil && (!errors.As(err, &ie) || ie.Step != StepExtract || ie.Path == "") {
					t.Errorf("err = %#v, want an *Error naming the entry", err)
				}
				if tt.check != nil {
					tt.check(t, l)
				}
				l.untouched(t)
			})
		})
	}
}

// TestExtractTarEscapesControl shows the layouts above do reach the
// outside when paths are followed as os.OpenFile follows them.
func TestExtractTarEscapesControl(t *testing.T) {
	l := newLayout(t)
	os.Symlink(l.outside, filepath.Join(l.dir, "p"))
	if err := os.WriteFile(filepath.Join(l.dir, "p/x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(l.outside, "x")); err != nil {
		t.Fatalf("the control did not escape: %v", err)
	}
	if l.changed() == "" {
		t.Fatal("changed did not notice the escape")
	}
}

// TestExtractTarModes: permission bits only (no set-uid, set-gid or
// sticky bit), a read-only directory's entries extracted all the same and
// its mode set last, and modification times from the entries.
func TestExtractTarModes(t *testing.T) {
	l := newLayout(t)
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "ro/", Typeflag: tar.TypeDir, Mode: 0o555, ModTime: mtime})
	tw.WriteHeader(&tar.Header{Name: "ro/suid", Typeflag: tar.TypeReg, Mode: 0o6755 | 0o1000, ModTime: mtime, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	if err := ExtractTar(l.open(t), &b); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"ro": os.ModeDir | 0o555, "ro/suid": 0o755} {
		fi, err := os.Lstat(filepath.Join(l.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", name, fi.ModTime(), mtime)
		}
	}
	os.Chmod(filepath.Join(l.dir, "ro"), 0o755) // for the cleanup
}
