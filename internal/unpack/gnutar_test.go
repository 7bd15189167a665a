package unpack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
)

// TestGNUTar applies layers GNU tar writes (the gnu and posix formats,
// with -S for sparse files) of a tree holding what images hold: nested
// and read-only directories, a long name, symbolic and hard links, a
// sparse file; the result must be the tree, hard links shared.
func TestGNUTar(t *testing.T) {
	tarProg := testutil.RequireProgram(t, "tar")
	src := filepath.Join(t.TempDir(), "src")
	long := strings.Repeat("n", 120) + "/" + strings.Repeat("m", 150)
	files := map[string]string{"etc/motd": "hi\n", "usr/bin/tool": "#!/bin/sh\n", long: "long"}
	for name, body := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustDo(t, os.Chmod(filepath.Join(src, "usr/bin/tool"), 0o755))
	mustDo(t, os.Link(filepath.Join(src, "usr/bin/tool"), filepath.Join(src, "usr/bin/hardlink")))
	mustDo(t, os.Symlink("/usr/bin/tool", filepath.Join(src, "usr/bin/abs")))
	mustDo(t, os.Symlink("../etc/motd", filepath.Join(src, "usr/rel")))
	sparse, err := os.Create(filepath.Join(src, "sparse"))
	mustDo(t, err)
	mustDo(t, sparse.Truncate(4<<20))
	_, err = sparse.WriteAt([]byte("data"), 1<<20)
	mustDo(t, err)
	mustDo(t, sparse.Close())
	mtime := time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)
	mustDo(t, os.Chtimes(filepath.Join(src, "etc/motd"), mtime, mtime))
	mustDo(t, os.Chmod(filepath.Join(src, "etc"), 0o555))
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "etc"), 0o755) })
	want := tree(t, src)

	for _, format := range []string{"gnu", "posix"} {
		t.Run(format, func(t *testing.T) {
			var layer, stderr bytes.Buffer
			cmd := exec.Command(tarProg, "-C", src, "--format="+format, "-S", "-cf", "-", ".")
			cmd.Stdout, cmd.Stderr = &layer, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("tar: %v: %s", err, stderr.Bytes())
			}
			s := newSandbox(t)
			st, err := Apply(s.root, &layer, Options{})
			if err != nil {
				t.Fatal(err)
			}
			wantTree(t, s.root, want...)
			if st.HardLinks != 1 || st.Files != 4 || st.Symlinks != 2 {
				t.Errorf("Stats %+v, want 4 files, 1 hard link, 2 symbolic links", st)
			}
			a, errA := os.Stat(filepath.Join(s.root, "usr/bin/tool"))
			b, errB := os.Stat(filepath.Join(s.root, "usr/bin/hardlink"))
			if errA != nil || errB != nil || a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
				t.Errorf("usr/bin/hardlink is not a hard link to usr/bin/tool (%v, %v)", errA, errB)
			}
			if fi, err := os.Stat(filepath.Join(s.root, "etc/motd")); err != nil || !fi.ModTime().Equal(mtime) {
				t.Errorf("etc/motd: modification time %v (%v), want %v", fi.ModTime(), err, mtime)
			}
		})
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
