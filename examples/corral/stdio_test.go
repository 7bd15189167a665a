package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
)

// corralJSON calls run with --json-fd and args, as "corral run --json-fd
// N ARGS... N>file" would, and returns the one JSON object written there.
func corralJSON(t *testing.T, stdin string, args ...string) (result, map[string]any) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := corral(t, stdin, append([]string{"--json-fd", strconv.Itoa(int(f.Fd()))}, args...)...)
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n") != 1 || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("--json-fd got %q; want one line", b)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("--json-fd got %q: %v", b, err)
	}
	return r, got
}

// TestRunJSONForged: the command cannot change the result --json-fd
// writes, whatever it prints and wherever it tries to write.
func TestRunJSONForged(t *testing.T) {
	const forged = `{"exit_code":0,"signal":"","oom_killed":false,"timed_out":false,"limit":""}`
	script := `echo '` + forged + `'; echo '` + forged + `' >&2
		printf '{"exit_code":0,' >&2; printf '{"exit_code":0,'
		for fd in $(seq 3 64); do (echo '` + forged + `' >&$fd) 2>/dev/null; done
		exit 3`
	r, got := corralJSON(t, "", "--", "sh", "-c", script)
	r.expect(t, 3)
	if got["exit_code"] != 3.0 || got["signal"] != "" {
		t.Errorf("result exit_code %v, signal %q; want 3 and none", got["exit_code"], got["signal"])
	}
	if !strings.Contains(r.stderr, forged) || !strings.Contains(r.stdout, forged) {
		t.Errorf("the forged lines did not reach stdout and stderr (%q, %q): the test shows nothing", r.stdout, r.stderr)
	}
	for _, fd := range []string{"0", "1", "2", "-2", "x"} {
		corral(t, "", "--json-fd", fd, "--", "true").expect(t, exitSetup, "json-fd")
	}
	corral(t, "", "--json-fd", "1000", "--", "true").expect(t, exitSetup, "--json-fd 1000", "bad file descriptor")
}

// TestRunStdio: by default the command gets pipes, not corral's own files,
// and cannot change them; --stdio inherit passes them as they are (the
// control: there the same script changes the host's files).
func TestRunStdio(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	script := `cat; for fd in 0 1 2; do stat -L -c %F /proc/self/fd/$fd; echo stderr >&2; done
		chmod 0606 /proc/self/fd/0 /proc/self/fd/1 && touch -d @0 /proc/self/fd/0 /proc/self/fd/1`
	for _, mode := range []string{"pipe", "inherit"} {
		t.Run(mode, func(t *testing.T) {
			in, out := filepath.Join(dir, mode+".in"), filepath.Join(dir, mode+".out")
			for _, name := range []string{in, out} {
				if err := os.WriteFile(name, []byte("input\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(name, old, old); err != nil {
					t.Fatal(err)
				}
			}
			stdin, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stdout, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer stdout.Close()
			args := []string{"--", "sh", "-c", script}
			if mode != "pipe" {
				args = append([]string{"--stdio", mode}, args...)
			}
			code := run(args, stdin, stdout, stdout)
			b, _ := os.ReadFile(out)
			kind := map[string]string{"pipe": "fifo", "inherit": "regular file"}[mode]
			// Stdout and stderr are one file: in order, through one pipe.
			if want := "input\ninput\n" + strings.Repeat(kind+"\nstderr\n", 3); code != 0 || string(b) != want {
				t.Errorf("exit %d, output file %q; want 0, %q", code, b, want)
			}
			for _, name := range []string{in, out} {
				st, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				// corral's own writes change out's mtime, but not to 1970.
				changed := st.Mode().Perm() != 0o600 || st.ModTime().Unix() == 0
				t.Logf("%s: %s now %v, %v", mode, filepath.Base(name), st.Mode().Perm(), st.ModTime())
				if mode == "pipe" && changed {
					t.Errorf("the command changed corral's file %s: mode %v, mtime %v", filepath.Base(name), st.Mode().Perm(), st.ModTime())
				}
				if mode == "inherit" && !changed {
					t.Errorf("control: with --stdio inherit the command did not change %s; the test shows nothing", filepath.Base(name))
				}
			}
		})
	}
	corral(t, "", "--stdio", "tty", "--", "true").expect(t, exitSetup, "--stdio")
}

// TestRunPipeSemantics: through pipes, corral ends when the command ends,
// even when its own stdin stays open (a pipe, a terminal nobody types
// into), and a closed stdout gives the command SIGPIPE, as without corral.
func TestRunPipeSemantics(t *testing.T) {
	needSandbox(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	_, pts := testutil.OpenPTY(t)
	for name, stdin := range map[string]*os.File{"open pipe": r, "terminal": pts} {
		out, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan int, 1)
		go func() { done <- run([]string{"--", "sh", "-c", "echo hi; exit 4"}, stdin, out, out) }()
		select {
		case code := <-done:
			b, _ := os.ReadFile(out.Name())
			if code != 4 || string(b) != "hi\n" {
				t.Errorf("stdin an %s: exit %d, output %q; want 4, %q", name, code, b, "hi\n")
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("stdin an %s: corral still runs 20 s after its command exited", name)
		}
		out.Close()
	}

	// A closed stdout: the copy stops, the command gets SIGPIPE.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close()
	defer pw.Close()
	var stderr strings.Builder
	if code := run([]string{"--", "yes"}, strings.NewReader(""), pw, &stderr); code != 128+int(syscall.SIGPIPE) || stderr.Len() != 0 {
		t.Errorf("yes into a closed pipe: exit %d, stderr %q; want %d and nothing", code, stderr.String(), 128+int(syscall.SIGPIPE))
	}
}
