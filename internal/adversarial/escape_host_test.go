package adversarial

// Escape cases: the terminal and leaks of host state (fds, environment,
// host name, core dumps).

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/corral-dev/corral/internal/testutil"
	"golang.org/x/sys/unix"
)

var escHostCases = []escapeCase{
	// CVE-2017-5226: TIOCSTI pushes input into the terminal the command was
	// given, to be read by the host's shell after the command ends. Refused
	// with and without making it the controlling terminal; nothing reaches
	// the terminal's input or its echo.
	{name: "cve-2017-5226-tiocsti", victim: func([]string) int {
		c := byte('!')
		e1 := testutil.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, unsafe.Pointer(&c))
		unix.IoctlSetInt(0, unix.TIOCSCTTY, 0)
		e2 := testutil.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, unsafe.Pointer(&c))
		e3 := testutil.Syscall(unix.SYS_IOCTL, 0, uintptr(1<<32|unix.TIOCSTI), unsafe.Pointer(&c))
		return escReport(escErrno(e1), escErrno(e2), escErrno(e3))
	}, test: func(t *testing.T, name string) {
		ptm, pts := testutil.OpenPTY(t)
		o := escAttack(t, name, escRun{stdin: pts})
		escWant(t, o, "EPERM,EPERM,EPERM")
		time.Sleep(50 * time.Millisecond) // echo reaches the master through a workqueue
		for _, f := range []*os.File{ptm, pts} {
			if n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ); err != nil || n != 0 {
				t.Errorf("%s: %d bytes waiting (%v): input was injected into the host's terminal", f.Name(), n, err)
			}
		}
	}},
	// The sandbox's /dev/pts is a new devpts instance: the host's terminals
	// are not in it, and the command has no controlling terminal.
	{name: "host-pty", victim: func(args []string) int {
		entries, _ := os.ReadDir("/dev/pts")
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return escReport(escOpen(args[0], unix.O_RDWR|unix.O_NOCTTY), escOpen("/dev/tty", unix.O_RDWR), "pts="+strings.Join(names, "+"))
	}, test: func(t *testing.T, name string) {
		_, pts := testutil.OpenPTY(t)
		escWant(t, escAttack(t, name, escRun{args: []string{pts.Name()}}), "ENOENT,ENXIO,pts=ptmx")
	}},

	// fds the host opened without O_CLOEXEC (a file, a directory, a pipe)
	// do not reach the command, nor does any other but 0, 1 and 2.
	{name: "leak-host-fd", victim: func([]string) int {
		return escReport("fds=" + strings.Join(escFDs(), "+"))
	}, test: func(t *testing.T, name string) {
		dir := t.TempDir()
		secret := filepath.Join(dir, "secret")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		var fds []int
		for _, p := range []string{secret, dir} {
			fd, err := syscall.Open(p, syscall.O_RDONLY, 0) // no O_CLOEXEC, as C code might
			if err != nil {
				t.Fatal(err)
			}
			fds = append(fds, fd)
		}
		var pipe [2]int
		if err := syscall.Pipe(pipe[:]); err != nil {
			t.Fatal(err)
		}
		fds = append(fds, pipe[:]...)
		defer func() {
			for _, fd := range fds {
				syscall.Close(fd)
			}
		}()
		t.Logf("host fds without close-on-exec: %v", fds)
		escWant(t, escAttack(t, name, escRun{}), "fds=0+1+2")
	}},
	// The host's environment is not the command's, and the init's (which
	// holds only Corral's marker) cannot be read.
	{name: "host-environment", victim: func([]string) int {
		var names []string
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, k)
		}
		slices.Sort(names)
		self, _ := os.ReadFile("/proc/self/environ")
		found := "clean"
		if bytes.Contains(self, []byte("CORRAL_ESCAPE_SECRET")) {
			found = "LEAKED"
		}
		return escReport("env="+strings.Join(names, "+"), "home="+os.Getenv("HOME"), escOpen("/proc/1/environ", unix.O_RDONLY), found)
	}, test: func(t *testing.T, name string) {
		t.Setenv("CORRAL_ESCAPE_SECRET", "host-secret")
		t.Setenv("HOME", "/root/host-home")
		// The sandbox's own login variables, not the host's.
		env := "CORRAL_ATTACK+HOME+LOGNAME+PATH+USER"
		if st, err := os.Stat("/usr/lib/locale/C.utf8"); err == nil && st.IsDir() {
			env = "CORRAL_ATTACK+HOME+LANG+LOGNAME+PATH+USER"
		}
		escWant(t, escAttack(t, name, escRun{}), "env="+env+",home=/work,EPERM,clean")
	}},
	// The host name is the sandbox's own, and cannot be changed.
	{name: "host-hostname", victim: func([]string) int {
		var u unix.Utsname
		unix.Uname(&u)
		proc, _ := os.ReadFile("/proc/sys/kernel/hostname")
		return escReport(
			unix.ByteSliceToString(u.Nodename[:]), strings.TrimSpace(string(proc)),
			escErr(unix.Sethostname([]byte("pwned"))), escErr(unix.Setdomainname([]byte("pwned"))),
		)
	}, test: func(t *testing.T, name string) {
		host, _ := os.Hostname()
		if host == "corral" {
			t.Skip("the host is itself named corral: the sandbox's name cannot be told apart")
		}
		escWant(t, escAttack(t, name, escRun{}), "corral,corral,EPERM,EPERM")
		if now, _ := os.Hostname(); now != host {
			t.Errorf("the host's name changed: %q -> %q", host, now)
		}
	}},
	// A crash inside dumps no core: RLIMIT_CORE is 0 and cannot be raised;
	// no core file appears in the sandbox or on the host, and the host's
	// core_pattern is unchanged.
	{name: "core-dump", victim: func([]string) int {
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_CORE, &rl)
		raise := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
		return escReport(fmt.Sprintf("core=%d/%d", rl.Cur, rl.Max), escErr(raise))
	}, test: func(t *testing.T, name string) {
		pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
		wd, _ := os.Getwd()
		places := []string{wd, os.TempDir(), "/tmp", "/var/crash", "/var/lib/systemd/coredump"}
		before := escCores(places)
		o := escAttack(t, name, escRun{shell: `
			/probe || exit 1
			sh -c 'kill -SEGV $$'; echo "CRASH $?"
			ls -A /work /tmp /`})
		escWant(t, o, "core=0/0,EPERM")
		if !strings.Contains(o.stdout, "CRASH 139") {
			t.Errorf("the crash did not happen: %q", o.stdout)
		}
		for _, l := range strings.Split(o.stdout, "\n") {
			if strings.HasPrefix(l, "core") {
				t.Errorf("a core file was dumped inside: %q", l)
			}
		}
		if b, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); !bytes.Equal(b, pattern) {
			t.Errorf("the host's core_pattern changed: %q -> %q", pattern, b)
		}
		if after := escCores(places); !slices.Equal(before, after) {
			t.Errorf("core files on the host: %q before, %q after", before, after)
		}
		t.Logf("host core_pattern %q", bytes.TrimSpace(pattern))
	}},
}

// escCores lists the core files in dirs.
func escCores(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, "core*"))
		out = append(out, m...)
	}
	slices.Sort(out)
	return out
}

// escInitFDs tries to reach the init's fds through /proc/1/fd and
// /proc/1/fdinfo: opening or reading the link of any of the first 64 of
// them. In the root lane uid 0 inside may list the directory (the init's
// /proc files belong to root), which names the fds but opens none.
func escInitFDs() string {
	var got []string
	for fd := range 64 {
		n := strconv.Itoa(fd)
		if escOpen("/proc/1/fd/"+n, unix.O_RDONLY) == "OPENED" || escOpen("/proc/1/fd/"+n, unix.O_PATH) == "OPENED" {
			got = append(got, "open:"+n)
		}
		if target, err := os.Readlink("/proc/1/fd/" + n); err == nil {
			got = append(got, "link:"+n+"="+escSafe(target))
		}
		if escOpen("/proc/1/fdinfo/"+n, unix.O_RDONLY) == "OPENED" {
			got = append(got, "fdinfo:"+n)
		}
	}
	if len(got) == 0 {
		return "init-fds=closed"
	}
	return "init-fds=" + strings.Join(got, "+")
}
