package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"golang.org/x/sys/unix"
)

// hostTerm reads what corral writes to a host terminal, from its master,
// and waits for patterns in it.
type hostTerm struct {
	t    *testing.T
	m    *os.File
	buf  []byte
	seen int
}

func (h *hostTerm) send(s string) {
	h.t.Helper()
	if _, err := h.m.WriteString(s); err != nil {
		h.t.Fatal(err)
	}
}

// await waits at most d for re after what it consumed before.
func (h *hostTerm) await(re *regexp.Regexp, d time.Duration) ([]string, error) {
	deadline := time.Now().Add(d)
	b := make([]byte, 4096)
	for {
		if m := re.FindSubmatch(h.buf[h.seen:]); m != nil {
			h.seen += re.FindIndex(h.buf[h.seen:])[1]
			subs := make([]string, len(m))
			for i, s := range m {
				subs[i] = string(s)
			}
			return subs, nil
		}
		h.m.SetReadDeadline(deadline)
		n, err := h.m.Read(b)
		h.buf = append(h.buf, b[:n]...)
		if err != nil {
			return nil, err
		}
	}
}

func (h *hostTerm) expect(re *regexp.Regexp) []string {
	h.t.Helper()
	m, err := h.await(re, 20*time.Second)
	if err != nil {
		h.t.Fatalf("waiting for %v: %v; output so far: %q", re, err, h.buf)
	}
	return m
}

// TestRunTerminal drives "corral run -t -- sh" on a host terminal: the
// prompt and the echo come from the sandbox's terminal, a resize of the
// host's terminal reaches it, Ctrl-C interrupts the foreground sleep and
// not the shell, the shell's exit code is corral's, and corral's terminal
// has its modes back afterwards.
func TestRunTerminal(t *testing.T) {
	needSandbox(t)
	ptm, pts := testutil.OpenPTY(t)
	fd := int(pts.Fd())
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-t", "--env", "PS1=P$ ", "--", "sh", "-i"}, pts, pts, &stderr)
	}()
	h := &hostTerm{t: t, m: ptm}
	prompt := regexp.MustCompile(`P\$ `)
	h.expect(prompt)
	raw, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Lflag&unix.ICANON != 0 || raw.Lflag&unix.ECHO != 0 {
		t.Errorf("corral's terminal is not in raw mode during the run (lflag %#x)", raw.Lflag)
	}

	// The echo is the sandbox terminal's (corral's is raw); the marker's
	// output differs from its echo.
	h.send("tty; echo M$((1+1))X\n")
	h.expect(regexp.MustCompile(`M\$\(\(1\+1\)\)X`))
	got := h.expect(regexp.MustCompile(`(/dev/pts/\d+)\r?\nM2X`))
	t.Logf("the command's terminal: %s", got[1])

	// A resize of corral's terminal; corral hears of it by SIGWINCH,
	// which the kernel sends to the terminal's foreground group: this
	// terminal is not the test's controlling terminal, so the test sends it.
	size := regexp.MustCompile(`\b(\d+) (\d+)\r?\n`)
	for _, want := range [][2]int{{24, 80}, {33, 111}} {
		if want[0] != 24 {
			if err := unix.IoctlSetWinsize(int(ptm.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(want[0]), Col: uint16(want[1])}); err != nil {
				t.Fatal(err)
			}
			syscall.Kill(os.Getpid(), syscall.SIGWINCH)
		}
		// Until the size is seen: the SIGWINCH is handled on its own.
		start := time.Now()
		for {
			h.send("stty size\n")
			got := h.expect(size)
			rows, _ := strconv.Atoi(got[1])
			cols, _ := strconv.Atoi(got[2])
			if rows == want[0] && cols == want[1] {
				break
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("stty size: %d %d, want %d %d", rows, cols, want[0], want[1])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Ctrl-C, as a byte, to the foreground job: the marker is printed by
	// the job's own process, which then becomes the sleep, so the job is
	// in the foreground when the marker shows. Unless the Ctrl-C ends it,
	// the prompt comes back only after the 20 s the test waits.
	h.send("sh -c 'echo M$((2+1))X; exec sleep 100'\n")
	h.expect(regexp.MustCompile(`M3X`))
	h.send("\x03")
	h.expect(regexp.MustCompile(`\^C\r?\n(.*\n)?P\$ `))
	h.send("echo M$((3+1))X\n")
	h.expect(regexp.MustCompile(`M4X`))

	h.send("exit 3\n")
	select {
	case code := <-done:
		if code != 3 {
			t.Errorf("corral exited %d, want 3 (stderr %q)", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("corral still runs 20 s after exit; output %q", h.buf)
	}
	after, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *before {
		t.Errorf("corral's terminal modes were not restored:\nbefore %+v\nafter  %+v", *before, *after)
	}
}

// TestRunTerminalNeedsOne: -t with a stdin that is not a terminal is
// refused, saying why.
func TestRunTerminalNeedsOne(t *testing.T) {
	r := corral(t, "", "-t", "--", "true")
	r.expect(t, exitSetup, "-t: stdin is not a terminal")
	if strings.Contains(r.stderr, "panic") {
		t.Error(r.stderr)
	}
}
