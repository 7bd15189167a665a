package isolate

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// readTar returns the entries of a stream: name to body (a symlink's
// "-> target").
func readTar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	got := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeSymlink {
			body = []byte("-> " + h.Linkname)
		}
		got[h.Name] = string(body)
	}
}

func TestArchiveTarRoundTrip(t *testing.T) {
	resolutions(t, func(t *testing.T) {
		l := newLayout(t)
		in := tarOf(t,
			entry{name: "src/", kind: tar.TypeDir},
			entry{name: "src/main.c", body: "int main(){}"},
			entry{name: "src/lib/util.h", body: "#pragma once"},
			entry{name: "src/link", kind: tar.TypeSymlink, link: "/etc/passwd"},
			entry{name: "top", body: "top"},
		)
		if err := ExtractTar(l.open(t), bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := ArchiveTar(l.open(t), []string{"src", "./top"}, &out); err != nil {
			t.Fatal(err)
		}
		got := readTar(t, out.Bytes())
		want := map[string]string{
			"src/": "", "src/main.c": "int main(){}", "src/lib/": "", "src/lib/util.h": "#pragma once",
			"src/link": "-> /etc/passwd", "top": "top",
		}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
			}
		}
	})
}

func TestArchiveTarEscapes(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, l layout)
		names []string
		want  error
	}{
		{"dotdot", nil, []string{"../outside/secret"}, ErrEscape},
		{"absolute", nil, nil, ErrEscape}, // names: the outside secret, absolute
		{"through planted symlink", func(t *testing.T, l layout) { os.Symlink(l.outside, filepath.Join(l.dir, "out")) }, []string{"out/secret"}, syscall.ELOOP},
		{"through symlink to /", func(t *testing.T, l layout) { os.Symlink("/", filepath.Join(l.dir, "out")) }, nil, syscall.ELOOP},
		{"through /proc/self/root", func(t *testing.T, l layout) { os.Symlink("/proc/self/root", filepath.Join(l.dir, "out")) }, nil, syscall.ELOOP},
		{"fifo named", func(t *testing.T, l layout) { unix.Mkfifo(filepath.Join(l.dir, "f"), 0o644) }, []string{"f"}, nil},
		{"fifo in a tree", func(t *testing.T, l layout) {
			os.Mkdir(filepath.Join(l.dir, "d"), 0o755)
			unix.Mkfifo(filepath.Join(l.dir, "d/f"), 0o644)
		}, []string{"d"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resolutions(t, func(t *testing.T) {
				l := newLayout(t)
				if tt.plant != nil {
					tt.plant(t, l)
				}
				names := tt.names
				if names == nil && tt.name == "absolute" {
					names = []string{l.outside + "/secret"}
				} else if names == nil {
					names = []string{"out" + l.outside + "/secret"}
				}
				var out bytes.Buffer
				err := ArchiveTar(l.open(t), names, &out)
				switch {
				case err == nil:
					t.Fatal("archived")
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Fatalf("err = %v, want %v", err, tt.want)
				case tt.want == nil && !strings.Contains(err.Error(), "not a regular file"):
					t.Fatalf("err = %v, want a refusal of the fifo", err)
				}
				if bytes.Contains(out.Bytes(), []byte("HOST-SECRET")) {
					t.Fatal("the archive holds the outside secret")
				}
			})
		})
	}
	// The control: the same names, followed as os.Open follows them, read
	// the secret.
	l := newLayout(t)
	os.Symlink(l.outside, filepath.Join(l.dir, "out"))
	if b, err := os.ReadFile(filepath.Join(l.dir, "out/secret")); err != nil || string(b) != "HOST-SECRET" {
		t.Fatalf("control: %q, %v", b, err)
	}
}

// TestTarRace swaps a directory of dir with a symlink to the outside, over
// and over, while extracting into it and archiving from it: nothing ever
// lands outside, and the outside secret is never read.
func TestTarRace(t *testing.T) {
	resolutions(t, func(t *testing.T) {
		l := newLayout(t)
		link, d := filepath.Join(l.dir, "link"), filepath.Join(l.dir, "d")
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "secret"), []byte("inside"), 0o644)
		os.Symlink(l.outside, link)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		swaps := 0
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, link, unix.RENAME_EXCHANGE) == nil {
					swaps++
				}
			}
		})
		in := tarOf(t, entry{name: "d/x", body: "x"}, entry{name: "d/sub/y", body: "y"})
		var extracted, archived int
		for range 2000 {
			if ExtractTar(l.open(t), bytes.NewReader(in)) == nil {
				extracted++
			}
			var out bytes.Buffer
			if ArchiveTar(l.open(t), []string{"d"}, &out) == nil {
				archived++
			}
			if bytes.Contains(out.Bytes(), []byte("HOST-SECRET")) {
				t.Fatal("the archive holds the outside secret")
			}
		}
		close(stop)
		wg.Wait()
		l.untouched(t)
		t.Logf("%d swaps; %d of 2000 extractions and %d archives succeeded", swaps, extracted, archived)
		if extracted == 0 || archived == 0 || swaps == 0 {
			t.Fatalf("the race did not run both ways: %d swaps, %d extractions, %d archives", swaps, extracted, archived)
		}
	})
}
