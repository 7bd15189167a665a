package unpack

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMtimes(t *testing.T) {
	s := newSandbox(t)
	t1 := time.Date(2001, 1, 1, 1, 1, 1, 0, time.UTC)
	t2 := time.Date(2002, 2, 2, 2, 2, 2, 0, time.UTC)
	t3 := time.Date(2003, 3, 3, 3, 3, 3, 0, time.UTC)
	_, err := s.apply(t, Options{}, layerOf(t,
		ent{name: "d", typ: tar.TypeDir, mtime: t1},
		ent{name: "ro", typ: tar.TypeDir, mode: 0o555, mtime: t2},
		ent{name: "d/f", body: "x", mtime: t2}, // after d: d's time is set after the layer
		ent{name: "ro/f", mode: 0o444, mtime: t3},
		ent{name: "d/sub", typ: tar.TypeDir, mtime: t3},
		ent{name: "d/sub/g", mtime: t1},
		ent{name: "d/link", typ: tar.TypeSymlink, link: "f", mtime: t1}, // ignored, no error
	))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]time.Time{"d": t1, "ro": t2, "d/f": t2, "ro/f": t3, "d/sub": t3, "d/sub/g": t1} {
		fi, err := os.Stat(filepath.Join(s.root, name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(want) {
			t.Errorf("%s: modification time %v, want %v", name, fi.ModTime().UTC(), want)
		}
	}
}

func TestStats(t *testing.T) {
	s := newSandbox(t)
	global := ent{typ: tar.TypeXGlobalHeader, pax: map[string]string{"comment": "not an entry"}}
	st, err := s.apply(t, Options{}, layerOf(t, global, dirA, fileAB, ent{name: "old"}), layerOf(t,
		ent{name: "dir", typ: tar.TypeDir}, ent{name: "f", body: "12345"}, ent{name: "h", typ: tar.TypeLink, link: "a/b"},
		ent{name: "s", typ: tar.TypeSymlink, link: "f"}, ent{name: "c", typ: tar.TypeChar}, ent{name: "p", typ: tar.TypeFifo},
		ent{name: ".wh.old"}, ent{name: "a/.wh..wh..opq"}, ent{name: ".wh..wh.plnk"},
	))
	if err != nil {
		t.Fatal(err)
	}
	// Without contents: dirs a and dir, the empty file old, the symlink,
	// the two dropped devices and the three whiteouts, each EntryBytes.
	want := Stats{Bytes: 5 + 5 + 5 + 9*EntryBytes, Entries: 3 + 9, Dropped: 3, Files: 3, Dirs: 2, Symlinks: 1, HardLinks: 1, Whiteouts: 2}
	if st != want {
		t.Errorf("Stats %+v, want %+v", st, want)
	}
}

func TestSparseFiles(t *testing.T) {
	const size = 2 << 20
	for _, tc := range []struct {
		name  string
		layer []byte
	}{
		{"PAX 0.1", paxSparseLayer(size, 1<<20, "abc")},
		{"old GNU", gnuSparseLayer(size, 1<<20, "abc")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			st, err := s.apply(t, Options{MaxBytes: size}, tc.layer)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(s.root, "sparse"))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, size)
			copy(want[1<<20:], "abc")
			if !bytes.Equal(got, want) || st.Bytes != size || st.Files != 1 {
				t.Errorf("sparse file: %d bytes (%d counted, %d files), equal %v; want %d bytes of zeros but abc at 1 MiB",
					len(got), st.Bytes, st.Files, bytes.Equal(got, want), size)
			}

			// Its full size counts toward MaxBytes (a small layer, a big file).
			s = newSandbox(t)
			_, err = s.apply(t, Options{MaxBytes: size - 1}, tc.layer)
			if !errors.Is(err, ErrTooBig) {
				t.Errorf("a %d-byte sparse file with MaxBytes %d: %v, want ErrTooBig", size, size-1, err)
			}
		})
	}
}

func TestLargeFile(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), (9<<20)/16+3) // not a multiple of the buffer
	s := newSandbox(t)
	st, err := s.apply(t, Options{MaxBytes: int64(len(body))}, layerOf(t, ent{name: "big", body: string(body)}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(s.root, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(body) || st.Bytes != int64(len(body)) {
		t.Errorf("big file: %d bytes read back (%d counted), want the %d written", len(got), st.Bytes, len(body))
	}
}

// countingReader counts what is read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadsToEOF(t *testing.T) {
	layer := layerOf(t, ent{name: "f", body: "x"})
	padded := append(layer, make([]byte, 10240)...) // a tar padded to its record size
	cr := &countingReader{r: bytes.NewReader(padded)}
	if _, err := Apply(newSandbox(t).root, cr, Options{}); err != nil {
		t.Fatal(err)
	}
	if cr.n != int64(len(padded)) {
		t.Errorf("Apply read %d bytes of the %d-byte stream", cr.n, len(padded))
	}
}

func TestBadInput(t *testing.T) {
	good := layerOf(t, ent{name: "first"}, ent{name: "f", body: strings.Repeat("x", 4096)})
	for _, tc := range []struct {
		name  string
		dir   string // beneath the sandbox's base; "" for the root
		layer []byte
		opts  Options
		want  string // in the error
	}{
		{name: "truncated in a file", layer: good[:len(good)-1024-2048], want: `after 2048 bytes of the file's 4096`},
		{name: "truncated in a header", layer: good[:700], want: `reading the layer after entry "first"`},
		{name: "garbage", layer: bytes.Repeat([]byte("garbage!"), 128), want: "reading the layer's first entry"},
		{name: "negative MaxBytes", layer: good, opts: Options{MaxBytes: -1}, want: "Options.MaxBytes is -1"},
		{name: "missing dir", dir: "missing", layer: good, want: "opening the directory to unpack into"},
		{name: "parent is a file", layer: layerOf(t, ent{name: "f"}, ent{name: "f/x"}), want: `"f/x": reaching directory f`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			dir := s.root
			if tc.dir != "" {
				dir = filepath.Join(s.base, tc.dir)
			}
			_, err := Apply(dir, bytes.NewReader(tc.layer), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Apply: %v, want an error containing %q", err, tc.want)
			}
			if errors.Is(err, ErrUnsafe) || errors.Is(err, ErrTooBig) {
				t.Errorf("Apply: %v matches ErrUnsafe or ErrTooBig", err)
			}
			s.checkOutside(t)
		})
	}
	// The control: the whole layer applies, and an empty stream is an
	// empty layer.
	s := newSandbox(t)
	if _, err := s.apply(t, Options{}, good, nil); err != nil {
		t.Errorf("Apply(good layer, then an empty one): %v", err)
	}
}

func TestUnsafeErrorText(t *testing.T) {
	s := newSandbox(t)
	_, err := Apply(s.root, bytes.NewReader(layerOf(t,
		ent{name: "evil", typ: tar.TypeSymlink, link: "../sibling"}, ent{name: "evil/x"})), Options{})
	const want = `unpack: layer entry "evil/x": reaching directory evil: a symbolic link on its path leads out of the root`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), ErrUnsafe.Error()) {
		t.Errorf("error %q, want it to start %q and end %q", err, want, ErrUnsafe)
	}
	if escapes() == nil {
		t.Error("os.Root's error for a path out of the root was not found: escapes() is nil")
	}
}

// TestEntriesCount: a layer of empty entries meets MaxBytes too (each
// costs EntryBytes); the control, the same layer under a bound it fits.
func TestEntriesCount(t *testing.T) {
	var es []ent
	for i := range 100 {
		es = append(es, ent{name: fmt.Sprintf("d%d", i), typ: tar.TypeDir})
	}
	s := newSandbox(t)
	if _, err := s.apply(t, Options{MaxBytes: 100 * EntryBytes}, layerOf(t, es...)); err != nil {
		t.Fatalf("100 dirs under a bound of 100 entries: %v", err)
	}
	s = newSandbox(t)
	if _, err := s.apply(t, Options{MaxBytes: 50 * EntryBytes}, layerOf(t, es...)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("100 dirs under a bound of 50 entries: %v, want ErrTooBig", err)
	}
}
