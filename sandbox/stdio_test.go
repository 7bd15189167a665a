package sandbox_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// outputVia is a stdin the host hands the command, and a way to learn
// what the command wrote back into it.
type outputVia struct {
	name string
	// open returns the command's stdin and a function that returns the
	// bytes the host side received through it once the run is over.
	open func(t *testing.T) (stdin *os.File, received func() []byte)
}

// stdinKinds are the stdins a command could write back through.
var stdinKinds = []outputVia{
	{"read-write-file", func(t *testing.T) (*os.File, func() []byte) {
		return fileStdin(t, os.O_RDWR)
	}},
	{"write-only-file", func(t *testing.T) (*os.File, func() []byte) {
		return fileStdin(t, os.O_WRONLY)
	}},
	// Reopened for writing through /proc/self/fd/0 where Landlock is off.
	{"read-only-file", func(t *testing.T) (*os.File, func() []byte) {
		return fileStdin(t, os.O_RDONLY)
	}},
	{"socketpair", func(t *testing.T) (*os.File, func() []byte) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The host's end sends nothing: the command reads EOF.
		unix.Shutdown(fds[0], unix.SHUT_WR)
		host, cmd := os.NewFile(uintptr(fds[0]), "host-end"), os.NewFile(uintptr(fds[1]), "cmd-end")
		t.Cleanup(func() { host.Close(); cmd.Close() })
		return cmd, func() []byte { return drain(t, host) }
	}},
	{"pty", func(t *testing.T) (*os.File, func() []byte) {
		ptm, pts := testutil.OpenPTY(t)
		// End of input: a reader of the terminal sees EOF at once.
		if _, err := ptm.Write([]byte{4}); err != nil {
			t.Fatal(err)
		}
		return pts, func() []byte { return drain(t, ptm) }
	}},
}

// fileStdin returns an empty host file opened with mode as stdin.
func fileStdin(t *testing.T, mode int) (*os.File, func() []byte) {
	name := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, mode, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, func() []byte {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// drain returns what can be read from f until it has been quiet for 200 ms.
func drain(t *testing.T, f *os.File) []byte {
	fd := int(f.Fd())
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 200)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll on the host's end: %v", err)
		}
		if n == 0 {
			return got
		}
		m, err := unix.Read(fd, buf)
		if m <= 0 || err != nil {
			return got
		}
		got = append(got, buf[:m]...)
	}
}

// The command writes 5000 x's to its stdin, as it is (>&0) and reopened
// for writing through /proc/self/fd/0.
const writeStdin = `x=$(head -c 5000 /dev/zero | tr '\0' x)
printf %s "$x" >&0 2>/dev/null
printf %s "$x" >/proc/self/fd/0 2>/dev/null
echo done`

// TestOutputCapCoversStdin: under Limits.Output, no stdin the host hands
// over carries the command's output past the cap. The control runs
// without the cap, where stdin is passed as it is (os/exec's way), and
// shows each write would have reached the host. Landlock is off, so that
// reopening through /proc/self/fd is allowed by the kernel alone.
func TestOutputCapCoversStdin(t *testing.T) {
	requireSandbox(t)
	const limit = 100
	for _, kind := range stdinKinds {
		t.Run(kind.name, func(t *testing.T) {
			for _, capped := range []bool{true, false} {
				stdin, received := kind.open(t)
				opts := sandbox.Options{Landlock: sandbox.LandlockOff}
				if capped {
					opts.Limits.Output = limit
				}
				c := sandbox.Command("/bin/sh", "-c", writeStdin)
				c.Stdin = stdin
				out, errs, res := run(t, opts, c)
				if out != "done\n" || !res.Success() {
					t.Fatalf("capped %v: %v, stdout %q, stderr %q", capped, res, out, errs)
				}
				xs := bytes.Count(received(), []byte("x"))
				t.Logf("capped %v: the host side of stdin received %d bytes of the command's 10000", capped, xs)
				switch {
				case capped && xs > 0:
					t.Errorf("under a %d-byte output cap, %d bytes went out through a %s stdin", limit, xs, kind.name)
				case !capped && xs == 0:
					t.Errorf("control: without a cap nothing went out through a %s stdin; the test shows nothing", kind.name)
				}
			}
		})
	}
}

// TestDirectoryRefused: a directory passed as a file would open the
// host's tree around it, whatever the sandbox's mounts.
func TestDirectoryRefused(t *testing.T) {
	requireSandbox(t)
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	opath, err := os.OpenFile(filepath.Dir(dir.Name()), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer opath.Close()
	for _, tt := range []struct {
		field string
		set   func(c *sandbox.Cmd)
	}{
		{"Cmd.Stdin", func(c *sandbox.Cmd) { c.Stdin = dir }},
		{"Cmd.Stdout", func(c *sandbox.Cmd) { c.Stdout = dir }},
		{"Cmd.ExtraFiles[1]", func(c *sandbox.Cmd) { c.ExtraFiles = []*os.File{os.Stderr, opath} }},
	} {
		c := sandbox.Command("/bin/sh", "-c", `ls /proc/self/fd/3/.. /proc/self/fd/4/..`)
		tt.set(c)
		p, err := newSandbox(t, sandbox.Options{Landlock: sandbox.LandlockOff}).Run(c)
		if err == nil {
			p.Kill()
			p.Wait()
		}
		var oe *sandbox.OptionError
		if !errors.As(err, &oe) || oe.Field != tt.field || !strings.Contains(oe.Reason, "directory") {
			t.Errorf("%s a directory: Run returned %v; want an OptionError for %s", tt.field, err, tt.field)
		}
	}
}
