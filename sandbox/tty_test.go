package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// termSession drives a shell through a terminal's master: it reads what
// the shell writes, and waits for markers in it.
type termSession struct {
	t    *testing.T
	m    *os.File
	buf  []byte
	seen int // what expect has consumed
}

// send writes s to the terminal.
func (s *termSession) send(str string) {
	s.t.Helper()
	if _, err := s.m.WriteString(str); err != nil {
		s.t.Fatalf("writing %q: %v", str, err)
	}
}

// expect waits (at most d) for re in the output after what the last
// expect consumed, consumes through the match and returns its submatches.
func (s *termSession) expect(re *regexp.Regexp, d time.Duration) []string {
	s.t.Helper()
	m, err := s.await(re, d)
	if err != nil {
		s.t.Fatalf("waiting for %v: %v; output so far: %q", re, err, s.buf)
	}
	return m
}

func (s *termSession) await(re *regexp.Regexp, d time.Duration) ([]string, error) {
	deadline := time.Now().Add(d)
	b := make([]byte, 4096)
	for {
		if loc := re.FindSubmatchIndex(s.buf[s.seen:]); loc != nil {
			var subs []string
			for i := 0; i < len(loc); i += 2 {
				if loc[i] >= 0 {
					subs = append(subs, string(s.buf[s.seen+loc[i]:s.seen+loc[i+1]]))
				} else {
					subs = append(subs, "")
				}
			}
			s.seen += loc[1]
			return subs, nil
		}
		s.m.SetReadDeadline(deadline)
		n, err := s.m.Read(b)
		s.buf = append(s.buf, b[:n]...)
		if err != nil {
			return nil, err
		}
	}
}

// marker is a command that prints a unique marker, and the pattern of
// its output: the terminal echoes the command, not the marker.
func marker(n int) (cmd string, re *regexp.Regexp) {
	return fmt.Sprintf("echo M$((%d+1))X", n), regexp.MustCompile(fmt.Sprintf(`M%dX`, n+1))
}

// TestTTY drives an interactive shell through its terminal: the terminal
// is the sandbox's own, it resizes, Ctrl-C interrupts the foreground job
// and not the shell, and the shell's exit code comes back.
func TestTTY(t *testing.T) {
	requireSandbox(t)
	// Landlock off: the command starts through syscall.ForkExec (Setctty),
	// not isolate's own fork (where Landlock is on, TIOCSCTTY there).
	for _, ll := range []sandbox.LandlockMode{sandbox.LandlockAuto, sandbox.LandlockOff} {
		sb := newSandbox(t, sandbox.Options{Landlock: ll})
		for i := range 2 { // with Reuse (CORRAL_TEST_POOL=reuse), the second run is in the same sandbox
			t.Run(fmt.Sprintf("landlock=%v/%d", ll, i), func(t *testing.T) { ttySession(t, sb) })
		}
	}
}

func ttySession(t *testing.T, sb *sandbox.Sandbox) {
	c := sandbox.Command("/bin/sh", "-i")
	c.Env = []string{"PS1=P$ ", "PATH=/usr/local/bin:/usr/bin:/bin", "TERM=dumb"}
	c.TTY = &sandbox.TTY{Rows: 24, Cols: 80}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := sb.RunContext(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Wait()
	defer p.Kill()
	s := &termSession{t: t, m: p.Terminal()}
	if s.m == nil {
		t.Fatal("Terminal() is nil with Cmd.TTY")
	}
	const wait = 20 * time.Second

	// The terminal is the sandbox's: a pts of its own devpts instance,
	// the only terminal there.
	cmd, re := marker(0)
	s.send("tty; stat -c %d \"$(tty)\"; ls /dev/pts | tr '\\n' ' '; " + cmd + "\n")
	s.expect(regexp.MustCompile(`\$\(tty\)"; ls`), wait) // the echo of the command line
	got := s.expect(regexp.MustCompile(`(/dev/pts/\d+)\r?\n(\d+)\r?\n([^\r\n]*?)`+re.String()), wait)
	if fields := strings.Fields(got[3]); len(fields) != 2 || fields[1] != "ptmx" || "/dev/pts/"+fields[0] != got[1] {
		t.Errorf("/dev/pts in the sandbox holds %q, want only %s and ptmx", got[3], got[1])
	}
	var host syscall.Stat_t
	if err := syscall.Stat("/dev/pts", &host); err == nil {
		if dev, _ := strconv.ParseUint(got[2], 10, 64); dev == host.Dev {
			t.Errorf("the command's terminal %s is on the host's devpts (device %d)", got[1], dev)
		}
	}

	// Its size, before and after a resize.
	size := regexp.MustCompile(`\b(\d+) (\d+)\r?\n`)
	for _, want := range [][2]int{{24, 80}, {30, 100}} {
		if want[0] != 24 {
			if err := p.Resize(uint16(want[0]), uint16(want[1])); err != nil {
				t.Fatal(err)
			}
		}
		s.send("stty size\n")
		got := s.expect(size, wait)
		rows, _ := strconv.Atoi(got[1])
		cols, _ := strconv.Atoi(got[2])
		if rows != want[0] || cols != want[1] {
			t.Errorf("stty size: %d %d, want %d %d", rows, cols, want[0], want[1])
		}
	}

	// Ctrl-C interrupts the foreground sleep, and the shell answers the
	// next command. The marker is printed by the job's own process, which
	// then becomes the sleep: the job is in the foreground when it shows.
	// Unless the Ctrl-C ends it, the prompt comes back only after the
	// time the test waits.
	cmd, re = marker(3)
	s.send("sh -c '" + cmd + "; exec sleep 100'\n")
	s.expect(re, wait)
	s.send("\x03")
	s.expect(regexp.MustCompile(`\^C\r?\n(.*\n)?P\$ `), wait)
	cmd, re = marker(4)
	s.send(cmd + "\n")
	s.expect(re, wait)

	s.send("exit 3\n")
	res, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 {
		t.Errorf("exit 3 in the terminal: %v", res)
	}
}

// TestTTYControl: without Cmd.TTY the command has no terminal.
func TestTTYControl(t *testing.T) {
	out, _, _ := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", "tty; true"))
	if !strings.Contains(out, "not a tty") {
		t.Errorf("tty without Cmd.TTY said %q, want \"not a tty\"", out)
	}
}

// TestTTYCopies: Cmd.Stdin and Cmd.Stdout are copied to and from the
// terminal, whose output is the command's stdout and stderr both.
func TestTTYCopies(t *testing.T) {
	c := sandbox.Command("/bin/sh", "-c", `read line; echo "got $line"; echo err >&2; stty -echo; test -t 0 && test -t 1 && test -t 2 && echo all-ttys`)
	c.TTY = &sandbox.TTY{}
	c.Stdin = strings.NewReader("hello\n")
	var b bytes.Buffer
	c.Stdout = &b
	requireSandbox(t)
	p, err := newSandbox(t, sandbox.Options{}).Run(c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	out := b.String()
	if err != nil || !res.Success() {
		t.Fatalf("%v %v: %q", res, err, out)
	}
	for _, want := range []string{"got hello", "err", "all-ttys"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}

// TestTTYStderrRefused: a terminal has one output stream.
func TestTTYStderrRefused(t *testing.T) {
	c := sandbox.Command("/bin/true")
	c.TTY = &sandbox.TTY{}
	c.Stderr = new(bytes.Buffer)
	_, err := sandbox.New(sandbox.Options{}).Run(c)
	var oe *sandbox.OptionError
	if !errors.As(err, &oe) || oe.Field != "Cmd.Stderr" {
		t.Fatalf("Run with TTY and Stderr: %v, want an OptionError for Cmd.Stderr", err)
	}
}

// An agent drives a shell on a terminal of the sandbox's own.
func ExampleProcess_Terminal() {
	cmd := sandbox.Command("/bin/sh", "-i")
	cmd.TTY = &sandbox.TTY{Rows: 24, Cols: 80}
	p, err := sandbox.New(sandbox.Options{}).Run(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	term := p.Terminal()
	term.WriteString("stty size\n") // "24 80" comes back on term
	p.Resize(40, 120)               // the shell gets SIGWINCH
	term.WriteString("exit 3\n")
	res, err := p.Wait()
	fmt.Println(res.ExitCode, err)
}
