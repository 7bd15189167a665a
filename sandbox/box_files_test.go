package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// TestBoxFilesRoundTrip: files written into a live Box are what its
// commands read, and what a command writes comes back out, while another
// command runs.
func TestBoxFilesRoundTrip(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	sleeper := startSleep(t, x) // the copies go on alongside a running command
	defer sleeper.Kill()
	src := tarFiles(t, map[string]string{"src/": "", "src/main.txt": "hello", "src/link": "->main.txt"})
	if err := x.CopyIn(context.Background(), "", src); err != nil {
		t.Fatalf("CopyIn: %v", err)
	}
	if err := x.WriteFile("/tmp/note", []byte("from the host"), 0o600); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	out, res := execSh(t, x, `cat src/main.txt; echo; cat src/link; echo; cat /tmp/note; echo; stat -c %a /tmp/note; tr a-z A-Z < src/main.txt > out.txt`)
	if want := "hello\nhello\nfrom the host\n600\n"; !res.Success() || out != want {
		t.Errorf("the command read %q (%v); want %q", out, res, want)
	}
	got, err := x.ReadFile("out.txt")
	if err != nil || string(got) != "HELLO" {
		t.Errorf("ReadFile(out.txt) = %q, %v; want HELLO", got, err)
	}
	var tb bytes.Buffer
	if err := x.CopyOut(context.Background(), "/work", []string{"src"}, &tb); err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	files := untar(t, tb.Bytes())
	if files["src/main.txt"] != "hello" || files["src/link"] != "->main.txt" {
		t.Errorf("CopyOut(src) = %q; want main.txt and the symlink as a symlink", files)
	}
}

// TestBoxFilesEscapes: symlinks a command plants, in the directory named
// and inside it, never lead a copy to a host file; controls show the
// command itself follows them.
func TestBoxFilesEscapes(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	out, res := execSh(t, x, `mkdir -p /work/d && ln -s /etc /work/d/etc && ln -s /etc /work/etcdir && ln -s /proc/1/root /work/root && cat /work/d/etc/hostname && mkfifo /work/fifo`)
	if !res.Success() || strings.TrimSpace(out) == "" {
		t.Fatalf("control: the command follows its own symlink: %q %v", out, res)
	}
	cases := []struct {
		name string
		op   func() error
	}{
		{"ReadFile through a symlinked directory", func() error { _, err := x.ReadFile("d/etc/passwd"); return err }},
		{"ReadFile of a symlink", func() error { _, err := x.ReadFile("d/etc"); return err }},
		{"ReadFile in a symlinked dir", func() error { _, err := x.ReadFile("/work/etcdir/hostname"); return err }},
		{"ReadFile via /proc/1/root", func() error { _, err := x.ReadFile("root/etc/passwd"); return err }},
		{"ReadFile of a fifo", func() error { _, err := x.ReadFile("fifo"); return err }},
		{"WriteFile through a symlinked dir", func() error { return x.WriteFile("etcdir/planted", []byte("x"), 0o644) }},
		{"CopyOut with ..", func() error {
			return x.CopyOut(context.Background(), "", []string{"../etc/passwd"}, &bytes.Buffer{})
		}},
		{"CopyIn with ..", func() error {
			return x.CopyIn(context.Background(), "", tarFiles(t, map[string]string{"../escaped": "x"}))
		}},
		{"CopyIn through a planted symlink", func() error {
			return x.CopyIn(context.Background(), "", tarFiles(t, map[string]string{"d/etc/planted": "x"}))
		}},
	}
	for _, c := range cases {
		done := make(chan error, 1)
		go func() { done <- c.op() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: no error; want a refusal", c.name)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: hangs", c.name)
		}
	}
	out, _ = execSh(t, x, `ls /etc/planted /work/planted /escaped 2>&1; true`)
	if strings.Count(out, "No such file") != 3 {
		t.Errorf("a copy wrote outside its directory: %q", out)
	}
}

// TestBoxFilesSize: a copy is bounded by its mount's size, and the Box
// goes on.
func TestBoxFilesSize(t *testing.T) {
	x := startBox(t, sandbox.Options{Mounts: []sandbox.Mount{sandbox.Tmpfs("/work", 1<<20)}})
	big := tarFiles(t, map[string]string{"big": strings.Repeat("x", 2<<20)})
	err := x.CopyIn(context.Background(), "", big)
	var se *sandbox.SetupError
	if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &se) || se.Step != "Box.CopyIn" || se.Path != "big" {
		t.Fatalf("CopyIn of 2 MiB into 1 MiB = %v; want ENOSPC naming Box.CopyIn and the entry", err)
	}
	if err := x.WriteFile("small", []byte("ok"), 0o644); err != nil {
		t.Fatalf("control: WriteFile after the failure: %v", err)
	}
	if out, res := execSh(t, x, `rm -f big; cat small`); out != "ok" {
		t.Errorf("after the failed copy: %q %v", out, res)
	}
}

// TestBoxFilesErrors: bad input names the field; copies after Stop say
// the Box ended.
func TestBoxFilesErrors(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	var oe *sandbox.OptionError
	for name, err := range map[string]error{
		"nil reader":     x.CopyIn(context.Background(), "", nil),
		"relative dir":   x.CopyIn(context.Background(), "work", &bytes.Buffer{}),
		"no names":       x.CopyOut(context.Background(), "", nil, &bytes.Buffer{}),
		"absolute name":  x.CopyOut(context.Background(), "", []string{"/etc"}, &bytes.Buffer{}),
		"nil writer":     x.CopyOut(context.Background(), "", []string{"a"}, nil),
		"empty name":     x.WriteFile("/", nil, 0o644),
		"Exec with copy": func() error { _, err := x.Exec(&sandbox.Cmd{Path: "/bin/true", CopyIn: &bytes.Buffer{}}); return err }(),
	} {
		if !errors.As(err, &oe) {
			t.Errorf("%s: %v; want an *OptionError", name, err)
		}
	}
	if _, err := x.ReadFile("missing"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("ReadFile(missing) = %v; want ENOENT", err)
	}
	if err := x.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := x.WriteFile("a", nil, 0o644); !errors.Is(err, sandbox.ErrBoxDone) {
		t.Errorf("WriteFile after Stop = %v; want ErrBoxDone", err)
	}
}

// TestBoxFilesRace: a command swaps a directory and a symlink to a
// writable host directory bound in, over and over, while the host writes
// and reads through that name: no copy ever reaches the host directory.
// The control: the command itself writes through the symlink.
func TestBoxFilesRace(t *testing.T) {
	host := t.TempDir()
	os.Chmod(host, 0o777)
	os.WriteFile(filepath.Join(host, "secret"), []byte("host secret"), 0o644)
	x := startBox(t, sandbox.Options{Mounts: []sandbox.Mount{sandbox.BindWritable(host, "/data")}})
	if out, res := execSh(t, x, `ln -s /data /work/d && echo control > /work/d/control && cat /work/d/secret && rm /work/d`); out != "host secret" || !res.Success() {
		t.Fatalf("control: the command reads through its symlink: %q %v", out, res)
	}
	if _, err := os.Stat(filepath.Join(host, "control")); err != nil {
		t.Fatalf("control: the command's write through the symlink did not reach the host: %v", err)
	}
	swapper, err := x.Exec(sandbox.Command("/bin/sh", "-c", `cd /work; while :; do rm -rf d; mkdir d; rm -rf d; ln -s /data d; done`))
	if err != nil {
		t.Fatal(err)
	}
	defer swapper.Kill()
	wrote := 0
	for i := range 300 {
		if x.WriteFile("d/x", []byte("copy"), 0o644) == nil {
			wrote++
		}
		if b, err := x.ReadFile("d/secret"); err == nil && string(b) == "host secret" {
			t.Fatalf("round %d: ReadFile read the host's file through the symlink", i)
		}
	}
	if _, err := os.Stat(filepath.Join(host, "x")); err == nil {
		t.Fatal("WriteFile wrote into the host directory through the swapped symlink")
	}
	// The race was run: some writes found the directory, others the symlink.
	if wrote == 0 || wrote == 300 {
		t.Errorf("%d of 300 writes succeeded; want some of each (was the name swapped?)", wrote)
	}
	t.Logf("%d of 300 writes found the directory", wrote)
}
