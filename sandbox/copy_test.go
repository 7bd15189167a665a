package sandbox_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
)

// tarFiles is a tar stream of files, name to content (a name ending in
// "/" is a directory; "->target" a symlink).
func tarFiles(t testing.TB, files map[string]string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := files[name]
		h := &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body))}
		switch {
		case strings.HasSuffix(name, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case strings.HasPrefix(body, "->"):
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, body[2:], 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

// untar is the stream's files, as tarFiles takes them.
func untar(t testing.TB, b []byte) map[string]string {
	t.Helper()
	got := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("reading the copy out: %v", err)
		}
		body, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeSymlink {
			body = []byte("->" + h.Linkname)
		}
		got[h.Name] = string(body)
	}
}

// copyRun runs c in sb and returns its output, result and Wait's error;
// Run's error fails t. lastPid is the host pid of its init.
func copyRun(t *testing.T, sb *sandbox.Sandbox, c *sandbox.Cmd) (string, *sandbox.Result, error) {
	t.Helper()
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := sb.RunContext(ctx, c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	lastPid = p.Pid()
	res, err := p.Wait()
	return out.String(), res, err
}

var lastPid int

// copyModes are the ways a run gets its sandbox: cold, from a pool, from a
// pool whose sandboxes are reused; and without the seccomp filter, under
// which the init resolves names with openat2 (the default filter answers
// it ENOSYS, and the init walks instead).
var copyModes = []struct {
	name string
	opts sandbox.Options
}{
	{"cold", sandbox.Options{}},
	{"pool", sandbox.Options{Pool: 1}},
	{"reuse", sandbox.Options{Pool: 1, Reuse: true}},
	{"openat2", sandbox.Options{Seccomp: seccomp.Profile{Disabled: true}}},
}

// TestCopyAcrossMounts: with Dir the root, names into /work or /tmp cross
// a mount, and fail (EXDEV): a copy stays in one mount, and is bounded by
// its size. Both ways the init resolves names are tried.
func TestCopyAcrossMounts(t *testing.T) {
	requireSandbox(t)
	for _, m := range copyModes {
		if m.name != "cold" && m.name != "openat2" {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			sb := sandbox.New(m.opts)
			var got bytes.Buffer
			out, res, err := copyRun(t, sb, &sandbox.Cmd{
				Path: "/bin/sh", Args: []string{"sh", "-c", "echo secret >/work/x; cat /work/x"}, Dir: "/",
				CopyOut: []string{"work/x"}, CopyOutTo: &got,
			})
			if !res.Success() || out != "secret\n" {
				t.Fatalf("%v: %q", res, out)
			}
			var se *sandbox.SetupError
			if !errors.Is(err, syscall.EXDEV) || !errors.As(err, &se) || se.Path != "work/x" {
				t.Fatalf("Wait: %v, want EXDEV naming work/x", err)
			}
			if bytes.Contains(got.Bytes(), []byte("secret")) {
				t.Fatal("the copy out crossed into /work")
			}
			_, err = sb.Run(&sandbox.Cmd{Path: "/bin/true", Dir: "/", CopyIn: tarFiles(t, map[string]string{"tmp/x": "x"})})
			if !errors.Is(err, syscall.EXDEV) || !errors.As(err, &se) || se.Step != "Cmd.CopyIn" || se.Path != "tmp/x" {
				t.Fatalf("Run: %v, want EXDEV naming Cmd.CopyIn and tmp/x", err)
			}
		})
	}
}

// TestCopyCodeRunner: a code runner's round trip: sources in, a build by
// the command, its outputs out, three times in a row per sandbox.
func TestCopyCodeRunner(t *testing.T) {
	requireSandbox(t)
	for _, m := range copyModes {
		t.Run(m.name, func(t *testing.T) {
			sb := sandbox.New(m.opts)
			defer sb.Close()
			for i := range 3 {
				n := string(rune('a' + i))
				in := tarFiles(t, map[string]string{
					"src/":       "",
					"src/main.c": "int main(){return " + n + ";}\n",
					"src/lib/h":  "header " + n + "\n",
					"build.sh":   "set -e; mkdir -p out/obj; cat src/main.c src/lib/h >out/prog; wc -c <out/prog >out/obj/size; ln -s prog out/link\n",
				})
				var got bytes.Buffer
				out, res, err := copyRun(t, sb, &sandbox.Cmd{
					Path: "/bin/sh", Args: []string{"sh", "build.sh"},
					CopyIn: in, CopyOut: []string{"out"}, CopyOutTo: &got,
				})
				if err != nil || !res.Success() {
					t.Fatalf("run %d: %v, %v: %s", i, res, err, out)
				}
				prog := "int main(){return " + n + ";}\nheader " + n + "\n"
				want := map[string]string{
					"out/": "", "out/prog": prog, "out/obj/": "",
					"out/obj/size": strconv.Itoa(len(prog)) + "\n", "out/link": "->prog",
				}
				if g := untar(t, got.Bytes()); !maps.Equal(g, want) {
					t.Fatalf("run %d copied out %q, want %q", i, g, want)
				}
			}
		})
	}
}

// TestCopyTenants: with a reused sandbox, what one run was given and what
// it made is gone for the next: it sees none of it, and cannot copy it out.
func TestCopyTenants(t *testing.T) {
	requireSandbox(t)
	sb := sandbox.New(sandbox.Options{Pool: 1, Reuse: true})
	defer sb.Close()
	prewarm(t, sb)
	var got bytes.Buffer
	out, res, err := copyRun(t, sb, &sandbox.Cmd{
		Path: "/bin/sh", Args: []string{"sh", "-c", "cat in/secret; echo made >/work/mine; echo tmp >/tmp/mine"},
		CopyIn:  tarFiles(t, map[string]string{"in/secret": "tenant-one-secret"}),
		CopyOut: []string{"mine", "in"}, CopyOutTo: &got,
	})
	if err != nil || !res.Success() || out != "tenant-one-secret" {
		t.Fatalf("first tenant: %v, %v, %q", res, err, out)
	}
	first := lastPid
	if g := untar(t, got.Bytes()); g["mine"] != "made\n" || g["in/secret"] != "tenant-one-secret" {
		t.Fatalf("first tenant copied out %q", g)
	}
	got.Reset()
	prewarm(t, sb)
	out, res, err = copyRun(t, sb, &sandbox.Cmd{
		Path: "/bin/sh", Args: []string{"sh", "-c", "ls -A /work /tmp; cat /work/in/secret /work/mine 2>/dev/null; true"},
		CopyOut: []string{"in/secret"}, CopyOutTo: &got,
	})
	if !res.Warm || lastPid != first {
		t.Fatalf("the second run did not reuse the sandbox (warm %v, init %d then %d)", res.Warm, first, lastPid)
	}
	if strings.Contains(out, "secret") || strings.Contains(out, "mine") || strings.Contains(out, "made") {
		t.Errorf("the next tenant sees the last one's files:\n%s", out)
	}
	if !strings.Contains(out, "/work:") || !strings.Contains(out, "/tmp:") {
		t.Errorf("ls did not list both directories: %q", out)
	}
	var se *sandbox.SetupError
	if !errors.As(err, &se) || se.Step != "Cmd.CopyOut" || se.Path != "in/secret" || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("copying out the last tenant's file: %v, want ENOENT naming Cmd.CopyOut and in/secret", err)
	}
	if bytes.Contains(got.Bytes(), []byte("tenant-one")) {
		t.Error("the next tenant copied out the last one's secret")
	}
}

// TestCopyOutEscapes: the command plants symlinks to host directories and
// a fifo where its output should be; the copy out never reads through
// them, and never hangs.
func TestCopyOutEscapes(t *testing.T) {
	requireSandbox(t)
	for _, tt := range []struct{ name, plant, copy, want string }{
		{"symlink to /etc", "ln -s /etc out", "out/passwd", "too many levels of symbolic links"},
		{"symlink to /proc/1/root", "ln -s /proc/1/root out", "out/etc/passwd", "too many levels of symbolic links"},
		{"symlink to /proc/self/root/etc", "ln -s /proc/self/root/etc out", "out/passwd", "too many levels of symbolic links"},
		{"deep symlink", "mkdir -p out/a; ln -s /etc out/a/b", "out/a/b/passwd", "too many levels of symbolic links"},
		{"symlink named", "ln -s /etc/passwd out", "out", ""},
		{"fifo", "mkfifo out", "out", "not a regular file"},
		{"fifo in a tree", "mkdir out; mkfifo out/f", "out", "not a regular file"},
		{"mount point", "true", "../proc/self/status", "must not have"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(sandbox.Options{})
			var got bytes.Buffer
			// The control reads through the command's own symlink (but
			// /proc/1/root, which the init's state keeps from it).
			control := strings.HasPrefix(tt.name, "symlink to") && !strings.Contains(tt.plant, "/proc/1")
			script := tt.plant
			if control {
				script += " && head -c 5 " + tt.copy
			}
			c := &sandbox.Cmd{
				Path: "/bin/sh", Args: []string{"sh", "-c", script},
				CopyOut: []string{tt.copy}, CopyOutTo: &got,
			}
			if tt.want == "must not have" {
				var oe *sandbox.OptionError
				if _, err := sb.Run(c); !errors.As(err, &oe) || oe.Field != "Cmd.CopyOut[0]" {
					t.Fatalf("Run: %v, want an *OptionError for Cmd.CopyOut[0]", err)
				}
				return
			}
			out, res, err := copyRun(t, sb, c)
			if !res.Success() {
				t.Fatalf("%v: %s", res, out)
			}
			if control && !strings.Contains(out, "root:") {
				t.Fatalf("control: the command read %q through its symlink, want the start of a passwd", out)
			}
			if bytes.Contains(got.Bytes(), []byte("root:")) {
				t.Fatal("the copy out holds a passwd read through the command's symlink")
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if g := untar(t, got.Bytes()); g["out"] != "->/etc/passwd" {
					t.Fatalf("copied out %q, want the symlink as it is", g)
				}
				return
			}
			var se *sandbox.SetupError
			if !errors.As(err, &se) || se.Step != "Cmd.CopyOut" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Wait: %v, want a Cmd.CopyOut failure saying %q", err, tt.want)
			}
		})
	}
}

// TestCopyInRefused: entries that would leave /work fail the run before
// the command starts, naming Cmd.CopyIn and the entry.
func TestCopyInRefused(t *testing.T) {
	requireSandbox(t)
	for _, tt := range []struct {
		name  string
		files map[string]string
		entry string
		want  string
	}{
		{"dotdot", map[string]string{"../etc/x": "x"}, "../etc/x", "leaves the directory"},
		{"absolute", map[string]string{"/etc/x": "x"}, "/etc/x", "leaves the directory"},
		{"through a symlink entry", map[string]string{"l": "->/etc", "l/x": "x"}, "l/x", "too many levels of symbolic links"},
		{"across a mount", map[string]string{"../tmp/x": "x"}, "../tmp/x", "leaves the directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(sandbox.Options{})
			var out strings.Builder
			_, err := sb.Run(&sandbox.Cmd{Path: "/bin/echo", Args: []string{"echo", "ran"}, Stdout: &out, CopyIn: tarFiles(t, tt.files)})
			var se *sandbox.SetupError
			if !errors.As(err, &se) || se.Step != "Cmd.CopyIn" || se.Path != tt.entry || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v, want a Cmd.CopyIn failure for %q saying %q", err, tt.entry, tt.want)
			}
			if out.Len() != 0 {
				t.Fatalf("the command ran: %q", out.String())
			}
		})
	}
}

// TestCopyInSize: a copy in bigger than its mount fails with ENOSPC,
// naming the entry, and the next run (of the same pool) starts clean.
func TestCopyInSize(t *testing.T) {
	requireSandbox(t)
	sb := sandbox.New(sandbox.Options{Pool: 1, Reuse: true, Mounts: []sandbox.Mount{sandbox.Tmpfs("/work", 1<<20)}})
	defer sb.Close()
	prewarm(t, sb)
	big := tarFiles(t, map[string]string{"small": "s", "big": strings.Repeat("x", 2<<20)})
	_, err := sb.Run(&sandbox.Cmd{Path: "/bin/true", CopyIn: big})
	var se *sandbox.SetupError
	if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &se) || se.Step != "Cmd.CopyIn" || se.Path != "big" {
		t.Fatalf("Run: %v, want ENOSPC naming Cmd.CopyIn and big", err)
	}
	// Control: half the mount goes in.
	var got bytes.Buffer
	out, res, err := copyRun(t, sb, &sandbox.Cmd{
		Path: "/bin/sh", Args: []string{"sh", "-c", "ls -A /work; wc -c <half"},
		CopyIn: tarFiles(t, map[string]string{"half": strings.Repeat("x", 1<<19)}), CopyOut: []string{"half"}, CopyOutTo: &got,
	})
	if err != nil || !res.Success() {
		t.Fatalf("%v, %v: %s", res, err, out)
	}
	if out != "half\n524288\n" {
		t.Fatalf("the next run saw %q, want half alone, of 524288 bytes", out)
	}
	if g := untar(t, got.Bytes()); len(g["half"]) != 1<<19 {
		t.Fatalf("copied out %d bytes, want %d", len(g["half"]), 1<<19)
	}
}

// failingReader gives its bytes, then fails.
type failingReader struct{ r io.Reader }

var errReader = errors.New("the caller's reader broke")

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errReader
	}
	return n, err
}

// TestCopyInReaderFails: a CopyIn whose Read fails fails the run with that
// error, before the command starts.
func TestCopyInReaderFails(t *testing.T) {
	requireSandbox(t)
	in := tarFiles(t, map[string]string{"a": strings.Repeat("a", 10000)})
	cut := bytes.NewReader(in.Bytes()[:5000])
	var out strings.Builder
	_, err := sandbox.New(sandbox.Options{}).Run(&sandbox.Cmd{Path: "/bin/echo", Args: []string{"echo", "ran"}, Stdout: &out, CopyIn: &failingReader{cut}})
	var se *sandbox.SetupError
	if !errors.Is(err, errReader) || !errors.As(err, &se) || se.Step != "Cmd.CopyIn" || se.Path != "a" {
		t.Fatalf("Run: %v, want the reader's error and a Cmd.CopyIn failure naming a", err)
	}
	if out.Len() != 0 {
		t.Fatalf("the command ran: %q", out.String())
	}
}

func TestCopyValidation(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	for _, tt := range []struct {
		cmd   *sandbox.Cmd
		field string
	}{
		{&sandbox.Cmd{Path: "/bin/true", CopyOut: []string{"x"}}, "Cmd.CopyOutTo"},
		{&sandbox.Cmd{Path: "/bin/true", CopyOutTo: io.Discard}, "Cmd.CopyOut"},
		{&sandbox.Cmd{Path: "/bin/true", CopyOut: []string{"a", "/etc"}, CopyOutTo: io.Discard}, "Cmd.CopyOut[1]"},
		{&sandbox.Cmd{Path: "/bin/true", CopyOut: []string{"a/../../b"}, CopyOutTo: io.Discard}, "Cmd.CopyOut[0]"},
		{&sandbox.Cmd{Path: "/bin/true", CopyOut: []string{"./"}, CopyOutTo: io.Discard}, "Cmd.CopyOut[0]"},
	} {
		_, err := sb.Run(tt.cmd)
		var oe *sandbox.OptionError
		if !errors.As(err, &oe) || oe.Field != tt.field {
			t.Errorf("Start(%+v) = %v, want an *OptionError for %s", tt.cmd, err, tt.field)
		}
	}
}

// TestCopyDirSymlinkFromLastRun: a run of a reused sandbox leaves a
// symlink where the next run's Cmd.Dir is, in a writable bind that no
// reset empties; the next run's copy in does not follow it (it would land
// in the symlink's target, or through /proc/self/fd in whatever the init
// holds open). The control: the command itself follows it.
func TestCopyDirSymlinkFromLastRun(t *testing.T) {
	requireSandbox(t)
	host := t.TempDir()
	os.Chmod(host, 0o777)
	sb := sandbox.New(sandbox.Options{Pool: 1, Reuse: true, Mounts: []sandbox.Mount{sandbox.BindWritable(host, "/data")}})
	defer sb.Close()
	prewarm(t, sb)
	out, res, err := copyRun(t, sb, &sandbox.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "mkdir /data/elsewhere && ln -s /data/elsewhere /data/job && cd /data/job && pwd -P"}})
	if err != nil || !res.Success() || strings.TrimSpace(out) != "/data/elsewhere" {
		t.Fatalf("control: the command follows its symlink: %v %v %q", res, err, out)
	}
	prewarm(t, sb)
	p, err := sb.Run(&sandbox.Cmd{Path: "/bin/true", Dir: "/data/job", CopyIn: tarFiles(t, map[string]string{"planted": "x"})})
	if err == nil {
		p.Wait()
		t.Fatal("the copy in went through the last run's symlink")
	}
	var se *sandbox.SetupError
	if !errors.As(err, &se) || se.Step != "Cmd.CopyIn" {
		t.Errorf("copy in through the symlink: %v; want a *SetupError of Cmd.CopyIn", err)
	}
	if _, err := os.Stat(filepath.Join(host, "elsewhere", "planted")); err == nil {
		t.Error("the copy landed in the symlink's target")
	}
}
