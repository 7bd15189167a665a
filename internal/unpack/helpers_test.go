package unpack

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// ent is an entry of a crafted layer; zero fields get defaults (a regular
// file, mode 0644 or 0755 for a directory (-1 for mode 0), a fixed
// modification time).
type ent struct {
	name  string
	typ   byte
	mode  int64
	body  string
	link  string
	mtime time.Time
	size  int64 // header size when not len(body) (sparse files)
	pax   map[string]string
	fmt   tar.Format
}

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// layerOf returns a tar stream of ents, in order.
func layerOf(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{
			Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link,
			ModTime: e.mtime, Size: int64(len(e.body)), PAXRecords: e.pax, Format: e.fmt,
			Uid: 1234, Gid: 5678, Uname: "someone", Gname: "others",
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeDir && !strings.HasSuffix(h.Name, "/") && h.Name != "" {
			h.Name += "/"
		}
		switch h.Mode {
		case 0:
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		case -1: // no permission at all
			h.Mode = 0
		}
		if h.ModTime.IsZero() {
			h.ModTime = testTime
		}
		if e.size != 0 {
			h.Size = e.size
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			h = &tar.Header{Typeflag: h.Typeflag, PAXRecords: e.pax}
		}
		body := e.body
		if h.Typeflag != tar.TypeReg {
			h.Size, body = 0, ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("crafting entry %q: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatalf("crafting entry %q: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a temp dir holding the root layers are applied to and a
// sibling directory, with a file, that must never change.
type sandbox struct {
	base, root, sibling string
	siblingMode         fs.FileMode
	siblingTime         time.Time
}

const siblingFile = "precious"

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	base := t.TempDir()
	s := &sandbox{base: base, root: filepath.Join(base, "root"), sibling: filepath.Join(base, "sibling")}
	for _, d := range []string{s.root, s.sibling} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.sibling, siblingFile), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(s.sibling, siblingFile))
	if err != nil {
		t.Fatal(err)
	}
	s.siblingMode, s.siblingTime = fi.Mode(), fi.ModTime()
	t.Cleanup(func() { // before TempDir's own, which cannot empty read-only dirs as nobody
		if err := RemoveAll(s.root); err != nil {
			t.Errorf("RemoveAll(root): %v", err)
		}
	})
	return s
}

// checkOutside fails the test if anything outside the root changed.
func (s *sandbox) checkOutside(t testing.TB) {
	t.Helper()
	names, err := os.ReadDir(s.base)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[0].Name() != "root" || names[1].Name() != "sibling" {
		t.Errorf("the root's parent holds %v, want [root sibling]", names)
	}
	sib, err := os.ReadDir(s.sibling)
	if err != nil {
		t.Fatal(err)
	}
	if len(sib) != 1 || sib[0].Name() != siblingFile {
		t.Errorf("the sibling directory holds %v, want only %s", sib, siblingFile)
	}
	fi, err := os.Lstat(filepath.Join(s.sibling, siblingFile))
	if b, _ := os.ReadFile(filepath.Join(s.sibling, siblingFile)); err != nil || string(b) != "keep" ||
		fi.Mode() != s.siblingMode || !fi.ModTime().Equal(s.siblingTime) {
		t.Errorf("the sibling's file changed: %q, %v, %v, %v", b, fi.Mode(), fi.ModTime(), err)
	}
}

// apply applies layers in order to the root, stopping at the first error.
func (s *sandbox) apply(t testing.TB, opts Options, layers ...[]byte) (Stats, error) {
	t.Helper()
	var total Stats
	for i, l := range layers {
		st, err := Apply(s.root, bytes.NewReader(l), opts)
		total.Bytes += st.Bytes
		total.Entries += st.Entries
		total.Dropped += st.Dropped
		total.Files += st.Files
		total.Dirs += st.Dirs
		total.Symlinks += st.Symlinks
		total.HardLinks += st.HardLinks
		total.Whiteouts += st.Whiteouts
		if err != nil {
			return total, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return total, nil
}

// tree describes every file beneath dir, one line each:
// "name dir 0755", "name file 0644 body", "name link -> target"; the body
// of a file without read permission is "-".
// Directories the test cannot read are described but not entered.
func tree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if p == dir || err != nil && (d == nil || !d.IsDir()) {
			return err
		}
		if err != nil {
			return fs.SkipDir // a directory described already, that cannot be read
		}
		rel, _ := filepath.Rel(dir, p)
		fi, lerr := os.Lstat(p)
		if lerr != nil {
			return lerr
		}
		switch {
		case fi.IsDir():
			mode := fmt.Sprintf("%#o", fi.Mode().Perm())
			if fi.Mode()&fs.ModeSticky != 0 {
				mode += "+t"
			}
			out = append(out, fmt.Sprintf("%s dir %s", rel, mode))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("%s link -> %s", rel, target))
		case fi.Mode().IsRegular():
			b := []byte("-") // not readable, for all but root
			if fi.Mode().Perm()&0o400 != 0 {
				if b, err = os.ReadFile(p); err != nil {
					return err
				}
			}
			out = append(out, fmt.Sprintf("%s file %#o %s", rel, fi.Mode().Perm(), b))
		default:
			out = append(out, fmt.Sprintf("%s other %v", rel, fi.Mode()))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	sort.Strings(out)
	return out
}

// wantTree fails the test unless tree(dir) is want (in any order).
func wantTree(t testing.TB, dir string, want ...string) {
	t.Helper()
	got := tree(t, dir)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
