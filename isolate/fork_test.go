package isolate

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// restrictedThread locks the test to a thread with no_new_privs, which
// landlock_restrict_self needs without CAP_SYS_ADMIN; the thread ends with
// the test (it is never unlocked). It skips where the kernel has no
// Landlock.
func restrictedThread(t *testing.T) {
	if abi, _ := LandlockABI(); abi == 0 {
		t.Skip("the kernel has no Landlock")
	}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
}

// TestStartRestricted: Start with a Landlock ruleset (its own fork) gives
// the command its files at the right numbers, whatever the fds' order, in
// a session of its own, confined by the ruleset: a file passed read-only
// reopens by path for reading only. A failed execve reports its errno.
func TestStartRestricted(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		restrictedThread(t)
		dir := t.TempDir()
		data := filepath.Join(dir, "data")
		if err := os.WriteFile(data, []byte("passed\n"), 0o600); err != nil {
			t.Error(err)
			return
		}
		in, err := os.Open(data)
		if err != nil {
			t.Error(err)
			return
		}
		defer in.Close()
		r, w, err := os.Pipe()
		if err != nil {
			t.Error(err)
			return
		}
		defer r.Close()
		rs, err := NewRuleset([]LandlockRule{{Path: "/"}}, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer rs.Close()
		// fd 3 of the command is the pipe's write end (moved down past
		// the file's); its stdio is the file, read-only.
		files := []uintptr{in.Fd(), in.Fd(), in.Fd(), w.Fd()}
		rfd, fresh, err := rs.For(files)
		if err != nil || !fresh {
			t.Errorf("For: %d, fresh %t, %v; want a fresh ruleset for a passed file", rfd, fresh, err)
			return
		}
		defer unix.Close(rfd)
		script := `cat /proc/self/fd/0 >&3; echo x > /proc/self/fd/0 || echo denied >&3; echo sid $(cut -d' ' -f6 /proc/self/stat) pid $$ >&3`
		pid, err := Start(&Command{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Files: files, Landlock: rfd})
		w.Close()
		if err != nil {
			t.Errorf("Start: %v", err)
			return
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		b := make([]byte, 4096)
		n, _ := r.Read(b)
		out := string(b[:n])
		if !strings.HasPrefix(out, "passed\ndenied\nsid ") || ws.ExitStatus() != 0 {
			t.Errorf("the command wrote %q, %v; want the file, a refused write, its session", out, ws)
		}
		var sid, spid string
		if f := strings.Fields(strings.TrimPrefix(out, "passed\ndenied\n")); len(f) == 4 {
			sid, spid = f[1], f[3]
		}
		if sid == "" || sid != spid {
			t.Errorf("the command's session %q; want its own, %q", sid, spid)
		}
		if b, _ := os.ReadFile(data); string(b) != "passed\n" {
			t.Errorf("the file passed read-only now holds %q", b)
		}

		// A failed execve: a file that is not executable.
		_, err = Start(&Command{Path: data, Args: []string{"data"}, Files: files[:3], Landlock: rfd})
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("Start of a non-executable file: %v; want EACCES", err)
		}
	}()
	<-done
}
