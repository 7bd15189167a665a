package sandbox_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
)

// reopenHelper tries, for each arg "N:op", op on /proc/self/fd/N (what
// /dev/stdin and the like name), and prints one line of "N:op=ok" or
// "N:op=ERRNO": r, w, a, rw open it for reading, writing, appending or
// both; otrunc opens it with O_TRUNC; trunc truncates it by path
// (truncate(2)); ioctl opens it for reading and asks its terminal modes.
func reopenHelper(args []string) int {
	var out []string
	for _, a := range args {
		fd, op, _ := strings.Cut(a, ":")
		path := "/proc/self/fd/" + fd
		var err error
		open := func(flags int) {
			var f int
			if f, err = unix.Open(path, flags|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err == nil {
				unix.Close(f)
			}
		}
		switch op {
		case "r":
			open(unix.O_RDONLY)
		case "w":
			open(unix.O_WRONLY)
		case "a":
			open(unix.O_WRONLY | unix.O_APPEND)
		case "rw":
			open(unix.O_RDWR)
		case "otrunc":
			open(unix.O_WRONLY | unix.O_TRUNC)
		case "trunc":
			err = unix.Truncate(path, 0)
		case "landlock": // fd is ignored: may the command build a ruleset of its own?
			_, err = isolate.LandlockABI()
		case "ioctl":
			var f int
			if f, err = unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err == nil {
				_, err = unix.IoctlGetTermios(f, unix.TCGETS)
				unix.Close(f)
			}
		default:
			err = fmt.Errorf("unknown op %q", op)
		}
		res := "ok"
		if errno, ok := err.(unix.Errno); ok {
			res = unix.ErrnoName(errno)
		} else if err != nil {
			res = err.Error()
		}
		out = append(out, a+"="+res)
	}
	fmt.Println(strings.Join(out, " "))
	return 0
}

// requireLandlock returns the kernel's Landlock ABI, or skips saying why.
func requireLandlock(t *testing.T) int {
	t.Helper()
	requireSandbox(t)
	abi, _ := isolate.LandlockABI()
	if abi == 0 {
		t.Skip("the kernel has no Landlock: the mounts alone confine the filesystem, and passed files reopen as the kernel allows")
	}
	return abi
}

// expect builds the ops for reopenHelper and the line it should print.
type expect struct{ ops, want []string }

func (e *expect) add(fd int, op, result string) {
	a := fmt.Sprintf("%d:%s", fd, op)
	e.ops = append(e.ops, a)
	e.want = append(e.want, a+"="+result)
}

// TestReopenByPathAsTheFdAllows: with Landlock, a command reopens a host
// file or terminal it was passed (stdin, ExtraFiles) by its path in
// /proc/self/fd with exactly the access its fd has: a read-only fd for
// reading alone (not writing, appending, truncating: the host file the
// caller passed read-only stays as it was), a write-only fd for writing
// alone, an O_PATH fd not at all, a terminal as its fd allows plus its
// ioctls. The control runs with LandlockOff, where the kernel alone judges
// and the read-only file of the caller's is reopened and truncated.
func TestReopenByPathAsTheFdAllows(t *testing.T) {
	abi := requireLandlock(t)
	const secret = "the caller's data\n"
	for _, landlock := range []sandbox.LandlockMode{sandbox.LandlockAuto, sandbox.LandlockOff} {
		t.Run(landlock.String(), func(t *testing.T) {
			off := landlock == sandbox.LandlockOff
			denied := "EACCES"
			if off {
				denied = "ok"
			}
			ro, roName := testutil.HostFile(t, secret, os.O_RDONLY)
			wo, _ := testutil.HostFile(t, "", os.O_WRONLY)
			rw, _ := testutil.HostFile(t, "", os.O_RDWR)
			opath, _ := testutil.HostFile(t, "", unix.O_PATH)
			_, pts := testutil.OpenPTY(t)
			// Another terminal: rules on one inode add up (see
			// isolate.Ruleset.For).
			_, pts2 := testutil.OpenPTY(t)
			ptsRO, err := os.OpenFile(pts2.Name(), os.O_RDONLY|unix.O_NOCTTY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer ptsRO.Close()

			var e expect
			e.add(0, "r", "ok")
			for _, op := range []string{"w", "a", "rw", "otrunc"} {
				e.add(0, op, denied)
			}
			if abi >= 3 || off {
				// Below ABI 3 Landlock cannot refuse truncate(2); the
				// caller's file would be emptied.
				e.add(0, "trunc", denied)
			}
			e.add(3, "r", denied)
			e.add(3, "rw", denied)
			e.add(3, "w", "ok")
			e.add(3, "a", "ok")
			e.add(3, "otrunc", "ok")
			for _, op := range []string{"r", "w", "rw", "trunc"} {
				e.add(4, op, "ok")
			}
			e.add(5, "r", denied)
			e.add(5, "w", denied)
			for _, op := range []string{"r", "w", "rw", "ioctl"} {
				e.add(6, op, "ok")
			}
			e.add(7, "r", "ok")
			e.add(7, "ioctl", "ok")
			e.add(7, "w", denied)

			c := helperCmd("reopen", e.ops...)
			c.Stdin = ro
			c.ExtraFiles = []*os.File{wo, rw, opath, pts, ptsRO}
			out, errs, res := run(t, sandbox.Options{Landlock: landlock, Mounts: []sandbox.Mount{probe(t)}}, c)
			if !res.Success() {
				t.Fatalf("%v: %s", res, errs)
			}
			if got, want := strings.TrimSpace(out), strings.Join(e.want, " "); got != want {
				t.Errorf("reopened by path:\n got %s\nwant %s", got, want)
			}
			b, err := os.ReadFile(roName)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !off && string(b) != secret:
				t.Errorf("the file passed read-only now holds %q; want %q", b, secret)
			case off && string(b) == secret:
				t.Errorf("control: with Landlock off the file passed read-only was not truncated (%q): the test shows nothing", b)
			}
		})
	}
}

// TestReopenByPathPerRun: each run of a reused sandbox gets a Landlock
// domain of its own, made for the files passed to it: the same host file
// passed read-write, then read-only, then write-only reopens as each run's
// fd allows, never as an earlier run's did (no rule is left behind, and no
// run is held to an earlier run's narrower rules). No path to an earlier
// run's file is left either: the run's processes and fds are gone, and a
// hard link to it (linkat through /proc/self/fd) would cross mounts.
func TestReopenByPathPerRun(t *testing.T) {
	requireLandlock(t)
	sb := newSandbox(t, sandbox.Options{Pool: 1, Reuse: true, Mounts: []sandbox.Mount{probe(t)}})
	defer sb.Close()
	name := filepath.Join(t.TempDir(), "passed")
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		flag int
		want string
	}{
		{os.O_RDWR, "3:r=ok 3:w=ok"},
		{os.O_RDONLY, "3:r=ok 3:w=EACCES"},
		{os.O_WRONLY, "3:r=EACCES 3:w=ok"},
		{os.O_RDWR, "3:r=ok 3:w=ok"},
	} {
		f, err := os.OpenFile(name, tt.flag, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := helperCmd("reopen", "3:r", "3:w")
		c.ExtraFiles = []*os.File{f}
		out, res := reuseRun(t, sb, c)
		f.Close()
		if !res.Success() || strings.TrimSpace(out) != tt.want {
			t.Errorf("passed with flags %#o: %v, %q; want %q", tt.flag, res, out, tt.want)
		}
	}
}

// TestReopenByPathCallerRefusesLandlock: a caller's seccomp rules that
// refuse the Landlock calls do not break the per-run domain (the launcher
// builds the ruleset elsewhere, and landlock_restrict_self is always
// allowed, as it can only narrow), and still hold for the command itself.
// The control shows the command may build a ruleset without the rule.
func TestReopenByPathCallerRefusesLandlock(t *testing.T) {
	requireLandlock(t)
	for _, refuse := range []bool{true, false} {
		opts := sandbox.Options{Mounts: []sandbox.Mount{probe(t)}}
		want := "0:r=ok 0:w=EACCES 0:landlock=ok"
		if refuse {
			opts.Seccomp.Rules = []seccomp.Rule{{
				Syscalls: []string{"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"},
				Action:   seccomp.Errno(unix.ENOSYS),
			}}
			want = "0:r=ok 0:w=EACCES 0:landlock=ENOSYS"
		}
		f, _ := testutil.HostFile(t, "data", os.O_RDONLY)
		c := helperCmd("reopen", "0:r", "0:w", "0:landlock")
		c.Stdin = f
		out, errs, res := run(t, opts, c)
		if !res.Success() || strings.TrimSpace(out) != want {
			t.Errorf("caller refuses the Landlock calls: %v; %v, %q (stderr %q); want %q", refuse, res, out, errs, want)
		}
	}
}

// TestReopenPassedMemfd: a file the kernel keeps on a mount of its own (a
// memfd, which code runners use to feed a program its input) can be
// passed: the command reads it through its fd. Landlock refuses a rule on
// such a file (EBADFD), and the per-run ruleset leaves that file out
// instead of failing the run. (Landlock does not judge reopening such a
// file by path at all: a memfd passed read-only reopens for writing as
// its permissions allow; a caller seals it, F_SEAL_WRITE, to keep it as it
// is.)
func TestReopenPassedMemfd(t *testing.T) {
	requireLandlock(t)
	const content = "input from a memfd\n"
	fd, err := unix.MemfdCreate("stdin", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skipf("memfd_create: %v", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd")
	defer mem.Close()
	if _, err := mem.WriteString(content); err != nil {
		t.Fatal(err)
	}
	// Read-only, as a caller would pass input: /proc/self/fd/N of the
	// caller's own memfd opens it again.
	ro, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	c := sandbox.Command("cat")
	c.Stdin = ro
	out, errs, res := run(t, sandbox.Options{}, c)
	if !res.Success() || out != content {
		t.Errorf("a memfd passed as stdin: %v, %q (stderr %q); want %q", res, out, errs, content)
	}
}
