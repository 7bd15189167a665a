package sandbox_test

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

func TestPIDNamespace(t *testing.T) {
	out := sh(t, sandbox.Options{}, `echo self $$; for p in /proc/[0-9]*; do echo pid ${p#/proc/} $(cat $p/comm); done`)
	var pids []int
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "pid" {
			n, _ := strconv.Atoi(f[1])
			pids = append(pids, n)
		}
	}
	// Only the shell and its children are visible: no host process, and
	// not the init (pid 1), which /proc hides (see TestReuseInitInvisible).
	self := strings.Fields(out)[1]
	if len(pids) == 0 || len(pids) > 3 || strconv.Itoa(pids[0]) != self {
		t.Errorf("processes visible inside: %v\n%s", pids, out)
	}
	if self == strconv.Itoa(os.Getpid()) || self == "1" {
		t.Errorf("the command runs as pid %s; want a small pid other than 1", self)
	}
}

func TestNetworkNamespace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	out, _, _ := run(t, sandbox.Options{Mounts: []sandbox.Mount{probe(t)}}, helperCmd("net", ln.Addr().String()))
	if !strings.Contains(out, "iface lo up|loopback") || strings.Count(out, "iface ") != 1 {
		t.Errorf("want only lo, up; got:\n%s", out)
	}
	if !strings.Contains(out, "loopback ok") {
		t.Errorf("loopback does not work inside:\n%s", out)
	}
	if !strings.Contains(out, "host unreachable") {
		t.Errorf("the host's loopback listener %s is reachable from inside:\n%s", ln.Addr(), out)
	}

	// The test can fail: with the host's network the listener is reachable.
	out, _, _ = run(t, sandbox.Options{Network: sandbox.NetworkHost, Mounts: []sandbox.Mount{probe(t)}}, helperCmd("net", ln.Addr().String()))
	if !strings.Contains(out, "host REACHED") {
		t.Errorf("NetworkHost cannot reach the host's listener:\n%s", out)
	}
}

func TestUserMapping(t *testing.T) {
	out := sh(t, sandbox.Options{}, `id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups`)
	want := fmt.Sprintf("0\n0\n0 %d 1\n0 %d 1\ndeny\n", os.Getuid(), os.Getgid())
	if got := squeeze(out); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestNoCapabilities(t *testing.T) {
	out := sh(t, sandbox.Options{}, `grep -E '^(Cap|NoNewPrivs)' /proc/self/status; cat /proc/1/environ 2>&1 || echo init-protected`)
	// Every set must be there, and read as a number: a line missing, or
	// one this parse does not understand, fails rather than passes.
	got := map[string]uint64{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		name, v, ok := strings.Cut(l, ":")
		if !ok || !strings.HasPrefix(name, "Cap") && name != "NoNewPrivs" {
			continue
		}
		base := 16 // the Cap lines are hexadecimal
		if name == "NoNewPrivs" {
			base = 10
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), base, 64)
		if err != nil {
			t.Errorf("%s: %v", l, err)
			continue
		}
		got[name] = n
	}
	for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if n, ok := got[set]; !ok {
			t.Errorf("no %s line in /proc/self/status:\n%s", set, out)
		} else if n != 0 {
			t.Errorf("capability set %s not empty: %#x", set, n)
		}
	}
	if n, ok := got["NoNewPrivs"]; !ok || n != 1 {
		t.Errorf("no_new_privs not set (NoNewPrivs %d, present %t):\n%s", n, ok, out)
	}
	if !strings.Contains(out, "init-protected") {
		t.Errorf("the command can read its init's /proc files (init is dumpable):\n%s", out)
	}
}

// The clean environment (nothing of the host's, and a login's variables)
// is TestDefaultEnvironment's.

func TestNoLeakedFDs(t *testing.T) {
	// fds the host opened without O_CLOEXEC, as C code might, must not get in.
	for i := 0; i < 4; i++ {
		fd, err := syscall.Open("/etc/hostname", syscall.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	c := helperCmd("fds")
	c.ExtraFiles = []*os.File{w}
	out, _, _ := run(t, sandbox.Options{Mounts: []sandbox.Mount{probe(t)}}, c)
	var fds []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		fd, target, _ := strings.Cut(l, " ")
		if !strings.HasPrefix(target, "anon_inode:") { // the Go runtime's own epoll/event fds
			fds = append(fds, fd)
		}
	}
	if got := strings.Join(fds, ","); got != "0,1,2,3" {
		t.Errorf("fds open inside: %s; want 0,1,2 and the one ExtraFile (3)\n%s", got, out)
	}
}

func TestHostname(t *testing.T) {
	if got := sh(t, sandbox.Options{}, `hostname; cat /etc/hostname`); got != "corral\ncorral\n" {
		t.Errorf("default hostname: %q", got)
	}
	if got := sh(t, sandbox.Options{Hostname: "judge-7"}, `hostname`); got != "judge-7\n" {
		t.Errorf("hostname option: %q", got)
	}
}

func TestNewSessionNoTerminalInjection(t *testing.T) {
	ptm, pts := testutil.OpenPTY(t)
	defer ptm.Close()
	defer pts.Close()
	c := helperCmd("tiocsti")
	c.Stdin = pts
	out, _, _ := run(t, sandbox.Options{Mounts: []sandbox.Mount{probe(t)}}, c)
	if !strings.Contains(out, "tiocsti: ") || strings.Contains(out, "tiocsti: <nil>") {
		t.Errorf("TIOCSTI into the host's terminal was not refused: %s", out)
	}
	sid := sh(t, sandbox.Options{}, `cut -d' ' -f6 /proc/self/stat; echo $$`)
	if f := strings.Fields(sid); len(f) != 2 || f[0] != f[1] {
		t.Errorf("the command is not the leader of its own session: sid, pid = %v", f)
	}
}

func squeeze(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString(strings.Join(strings.Fields(l), " ") + "\n")
	}
	return b.String()
}

func TestIPCAndCgroupNamespaces(t *testing.T) {
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o666)
	if err != nil {
		t.Fatalf("host shm segment: %v", err)
	}
	defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	host, _ := os.ReadFile("/proc/self/cgroup")
	// The control: the host's segment shows in the host's list.
	if hostList, err := os.ReadFile("/proc/sysvipc/shm"); err != nil || !slices.ContainsFunc(strings.Split(string(hostList), "\n"), func(l string) bool {
		f := strings.Fields(l)
		return len(f) > 1 && f[1] == strconv.Itoa(id)
	}) {
		t.Fatalf("the host's segment %d is not in its /proc/sysvipc/shm (%v), so the check inside proves nothing", id, err)
	}
	out := sh(t, sandbox.Options{}, `echo $(($(wc -l </proc/sysvipc/shm) - 1)); cat /proc/self/cgroup`)
	count, cg, _ := strings.Cut(out, "\n")
	if n, err := strconv.Atoi(count); err != nil || n != 0 {
		t.Errorf("%q host SysV shm segments visible inside; want 0", count)
	}
	// With a cgroup namespace the sandbox sees its own cgroup as "/".
	for _, l := range strings.Split(strings.TrimSpace(cg), "\n") {
		if parts := strings.SplitN(l, ":", 3); len(parts) != 3 || parts[2] != "/" {
			t.Errorf("cgroup path visible inside: %q (host: %q)", l, host)
		}
	}
	if hostShm, _ := os.ReadFile("/proc/sysvipc/shm"); !strings.Contains(string(hostShm), strconv.Itoa(id)) {
		t.Errorf("the test's own segment %d is not on the host; the test proves nothing", id)
	}
}

// TestPOSIXMessageQueues: mq_open works in a default sandbox, Landlock
// included, on the queues of the sandbox's own IPC namespace. A reused
// sandbox has no /dev/mqueue (each run's IPC namespace is new), and there
// Landlock refuses mq_open.
func TestPOSIXMessageQueues(t *testing.T) {
	landlock := true
	if sandbox.Check().Err() == nil {
		f, _ := sandbox.Check().Feature("landlock")
		landlock = f.Available
	}
	want := "mq: ok\n"
	if pooledReuse && landlock {
		want = "mq: EACCES\n"
	}
	out, errs, _ := run(t, sandbox.Options{Mounts: []sandbox.Mount{probe(t)}}, helperCmd("mq"))
	if out != want {
		t.Errorf("mq_open in a default sandbox: %q (stderr %q); want %q", out, errs, want)
	}
	// The queue lives in the sandbox's IPC namespace, not the host's.
	if _, err := os.Stat("/dev/mqueue/corral-test"); err == nil {
		t.Errorf("the sandbox's queue is on the host")
	}
}

// TestKeptCapability: a capability the caller lists survives into the
// command (as an ambient capability), and only that one.
func TestKeptCapability(t *testing.T) {
	caps := func(opts sandbox.Options) (string, string) {
		status := sh(t, opts, `grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status`)
		opts.Mounts = []sandbox.Mount{probe(t)}
		out, _, _ := run(t, opts, helperCmd("bind80"))
		return status, out
	}
	status, bind := caps(sandbox.Options{Capabilities: []string{"net_bind_service"}})
	// The four sets, each read as a number: a missing line fails.
	lines := strings.Split(strings.TrimSpace(status), "\n")
	if len(lines) != 4 {
		t.Errorf("capability sets %q; want the four lines CapPrm, CapEff, CapBnd, CapAmb", status)
	}
	for _, l := range lines {
		name, v, _ := strings.Cut(l, ":")
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil || n != 1<<unix.CAP_NET_BIND_SERVICE {
			t.Errorf("capability set %s %q (%v); want only CAP_NET_BIND_SERVICE (0x400)", name, v, err)
		}
	}
	if bind != "bound\n" {
		t.Errorf("binding port 80 with CAP_NET_BIND_SERVICE: %q", bind)
	}
	// The test can fail: without the capability the bind is refused.
	if _, bind := caps(sandbox.Options{}); bind == "bound\n" {
		t.Errorf("port 80 bound without the capability")
	}
}

// TestLandlock: Landlock confines what the mounts alone allow. /dev is a
// writable tmpfs (its mount allows creating files), but the Landlock rules
// grant only its device nodes.
func TestLandlock(t *testing.T) {
	if sandbox.Check().Err() == nil {
		if f, _ := sandbox.Check().Feature("landlock"); !f.Available {
			t.Skipf("the kernel has no Landlock: %s", f.Detail)
		}
	}
	script := `touch /dev/new 2>&1 | grep -c "Permission denied"; echo x > /dev/null && echo ok; echo w > /tmp/w && echo tmp-ok`
	for _, tc := range []struct {
		mode sandbox.LandlockMode
		want string
	}{
		{sandbox.LandlockAuto, "1\nok\ntmp-ok\n"},
		{sandbox.LandlockRequired, "1\nok\ntmp-ok\n"},
		{sandbox.LandlockOff, "0\nok\ntmp-ok\n"}, // the test can fail: the mount allows it
	} {
		out, errs, res := run(t, sandbox.Options{Landlock: tc.mode}, sandbox.Command("/bin/sh", "-c", script))
		// Where the kernel lacks the signal scope, Auto and Required say so.
		degraded := slices.DeleteFunc(slices.Clone(res.Degraded), func(d string) bool {
			return strings.HasPrefix(d, "landlock: no signal scoping") && !signalScoped()
		})
		if out != tc.want || len(degraded) > 0 {
			t.Errorf("Landlock %v: %q (stderr %q, degraded %q); want %q", tc.mode, out, errs, res.Degraded, tc.want)
		}
	}
}
