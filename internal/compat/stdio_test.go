package compat

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// stdioCase is a real program that reopens its stdio by path (/dev/stdin,
// /dev/stdout, /dev/stderr), given host files as its stdio.
type stdioCase struct {
	name string
	args func(t *testing.T) []string
	// files returns the command's stdin, stdout and stderr (nil: left to
	// the runner) and what the run produced, read once it is over.
	files func(t *testing.T) (stdin, stdout, stderr *os.File, produced func(stdout string) string)
	want  string
}

// readName returns a file's content.
func readName(t *testing.T, name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fileStdin gives a read-only host file as stdin; what the run produced is
// its stdout.
func fileStdin(t *testing.T) (*os.File, *os.File, *os.File, func(string) string) {
	f, _ := testutil.HostFile(t, "hello\n", os.O_RDONLY)
	return f, nil, nil, func(stdout string) string { return stdout }
}

// fileOut gives a host file opened for writing (as a shell's > does) as
// stdout or stderr; what the run produced is the file's content.
func fileOut(stderr bool) func(t *testing.T) (*os.File, *os.File, *os.File, func(string) string) {
	return func(t *testing.T) (*os.File, *os.File, *os.File, func(string) string) {
		f, name := testutil.HostFile(t, "", os.O_WRONLY|os.O_TRUNC)
		read := func(string) string { return readName(t, name) }
		if stderr {
			return nil, nil, f, read
		}
		return nil, f, nil, read
	}
}

// python3 returns the python3 that the default sandbox's /usr has.
func python3(t *testing.T) []string {
	p := testutil.RequireProgram(t, "python3")
	if !strings.HasPrefix(p, "/usr/") && !strings.HasPrefix(p, "/bin/") {
		p = "/usr/bin/python3" // a pyenv shim is not in the sandbox
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no python3 under /usr: %v", err)
		}
	}
	return []string{p}
}

var stdioCases = []stdioCase{
	{name: "cat-stdin-file", args: func(*testing.T) []string { return []string{"cat", "/dev/stdin"} }, files: fileStdin, want: "hello\n"},
	{name: "node-stdin-file", args: func(t *testing.T) []string {
		return []string{testutil.RequireProgram(t, "node"), "-e", `process.stdout.write(require("fs").readFileSync("/dev/stdin"))`}
	}, files: fileStdin, want: "hello\n"},
	{name: "python3-stdin-file", args: func(t *testing.T) []string {
		return append(python3(t), "-c", `import sys; sys.stdout.write(open("/dev/stdin").read())`)
	}, files: fileStdin, want: "hello\n"},
	{name: "append-stdout-file", args: func(*testing.T) []string { return []string{"sh", "-c", "echo x >> /dev/stdout"} }, files: fileOut(false), want: "x\n"},
	{name: "write-stderr-file", args: func(*testing.T) []string { return []string{"sh", "-c", "echo x > /dev/stderr"} }, files: fileOut(true), want: "x\n"},
	{name: "tee-stderr-file", args: func(*testing.T) []string { return []string{"sh", "-c", "echo x | tee -a /dev/stderr >/dev/null"} }, files: fileOut(true), want: "x\n"},
	{name: "write-stderr-terminal", args: func(*testing.T) []string { return []string{"sh", "-c", "echo x > /dev/stderr"} },
		files: func(t *testing.T) (*os.File, *os.File, *os.File, func(string) string) {
			ptm, pts := testutil.OpenPTY(t)
			return nil, nil, pts, func(string) string { return readTerminal(t, ptm) }
		}, want: "x\r\n"},
	{name: "cat-stdin-terminal", args: func(*testing.T) []string { return []string{"cat", "/dev/stdin"} },
		files: func(t *testing.T) (*os.File, *os.File, *os.File, func(string) string) {
			ptm, pts := testutil.OpenPTY(t)
			// A line, then end of input (^D at the start of a line).
			if _, err := ptm.Write([]byte("hello\n\x04")); err != nil {
				t.Fatal(err)
			}
			return pts, nil, nil, func(stdout string) string { return stdout }
		}, want: "hello\n"},
}

// readTerminal returns what the terminal's other end has to read now.
func readTerminal(t *testing.T, ptm *os.File) string {
	ptm.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 4096)
	n, _ := ptm.Read(buf)
	return string(buf[:n])
}

// TestStdioByPath: programs that open their stdio by path (/dev/stdin is
// /proc/self/fd/0) work in the default sandbox, with Landlock, as on the
// host, when the stdio is a host file or a terminal: the way code runners
// feed a program its input, and shells write to stderr.
func TestStdioByPath(t *testing.T) {
	for _, tc := range stdioCases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args(t)
			// The host, for comparison (and the test's control).
			in, out, errf, produced := tc.files(t)
			hc := exec.Command(args[0], args[1:]...)
			var hout, herr strings.Builder
			hc.Stdin, hc.Stdout, hc.Stderr = in, &hout, &herr
			if out != nil {
				hc.Stdout = out
			}
			if errf != nil {
				hc.Stderr = errf
			}
			if err := hc.Run(); err != nil {
				t.Fatalf("on the host: %v (stderr %q)", err, herr.String())
			}
			if got := produced(hout.String()); got != tc.want {
				t.Fatalf("on the host %v produced %q; want %q: the test shows nothing", args, got, tc.want)
			}

			in, out, errf, produced = tc.files(t)
			c := sandbox.Command(args[0], args[1:]...)
			if in != nil {
				c.Stdin = in
			}
			if out != nil {
				c.Stdout = out
			}
			if errf != nil {
				c.Stderr = errf
			}
			o := run(t, sandbox.Options{}, c)
			if got := produced(o.stdout); o.exit != 0 || got != tc.want {
				t.Errorf("in the sandbox %v: exit %d, produced %q, stderr %q; on the host it produced %q", args, o.exit, got, o.stderr, tc.want)
			}
		})
	}
}
