package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// reuseRun runs script in sb (whose pool is filled first) and returns its
// output and result; the run must be warm.
func reuseRun(t *testing.T, sb *sandbox.Sandbox, c *sandbox.Cmd) (string, *sandbox.Result) {
	t.Helper()
	prewarm(t, sb)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := sb.RunContext(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("%v: %v", res, err)
	}
	if !res.Warm {
		t.Errorf("run %q was not warm", c.Args)
	}
	return out.String(), res
}

// TestReuseLeavesNothingBehind: with Reuse a run leaves files (in every
// writable tmpfs, a deep tree, a changed mode), processes, a SysV segment,
// a listening socket and memory use behind, and the next run of the same
// sandbox sees none of it, under the same filter and limits.
func TestReuseLeavesNothingBehind(t *testing.T) {
	requireSandbox(t)
	sb := newSandbox(t, sandbox.Options{
		Pool: 1, Reuse: true, Mounts: []sandbox.Mount{probe(t)},
		Limits:       sandbox.Limits{Pids: 32, Memory: 256 << 20},
		CgroupParent: testutil.CgroupParent(),
	})
	defer sb.Close()
	const plant = `set -e
		for d in /tmp /work /dev/shm; do echo x >$d/left; mkdir -p $d/a/b/c; echo y >$d/a/b/c/deep; done
		chmod 000 /work
		setsid sleep 1000 </dev/null >/dev/null 2>&1 &
		CORRAL_TEST_HELPER=shm /probe create
		x=$(head -c 30000000 /dev/zero | tr "\\0" a); echo ${#x}`
	out, first := reuseRun(t, sb, sandbox.Command("/bin/sh", "-c", plant))
	if !first.Success() || !strings.Contains(out, "shm: <nil>") {
		t.Fatalf("planting: %v, %q", first, out)
	}
	const inspect = `ls -A /tmp /work /dev/shm; stat -c %a /work
		for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = sleep ] && echo "sleep $p"; done
		CORRAL_TEST_HELPER=shm /probe find
		unshare -U true 2>/dev/null && echo "userns allowed"; true`
	for i := range 3 {
		out, res := reuseRun(t, sb, sandbox.Command("/bin/sh", "-c", inspect))
		want := "/dev/shm:\n\n/tmp:\n\n/work:\n755\nshm: no such file or directory\n"
		if out != want || !res.Success() {
			t.Errorf("run %d after the planting run: %v\n%s\nwant\n%s", i+1, res, out, want)
		}
		if res.Cgroup != first.Cgroup || res.MemoryPeak >= first.MemoryPeak {
			t.Errorf("run %d: cgroup %s (first %s), memory peak %d (first %d); want the same path, counting afresh",
				i+1, res.Cgroup, first.Cgroup, res.MemoryPeak, first.MemoryPeak)
		}
	}
	// The limits hold in a reused sandbox: 40 sleeps under a limit of 32 pids.
	out, res := reuseRun(t, sb, sandbox.Command("/bin/sh", "-c", `n=0; i=0
		while [ $i -lt 40 ]; do sleep 30 2>/dev/null & i=$((i+1)); done 2>/dev/null
		for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n`))
	if !res.PidsLimitHit {
		t.Errorf("40 sleeps under Pids 32 in a reused sandbox: %v, pids limit hit %v, %q", res, res.PidsLimitHit, out)
	}
}

// TestReuseAfterKill: a run killed by Kill, or by a limit, is not reused;
// its sandbox is replaced and the next run is as good as new.
func TestReuseAfterKill(t *testing.T) {
	requireSandbox(t)
	// The limit also bounds the later runs, a cold one among them: 2 s
	// leaves room for a slow machine (the VM lane emulates its CPU).
	sb := newSandbox(t, sandbox.Options{Pool: 1, Reuse: true, Limits: sandbox.Limits{Time: 2 * time.Second}})
	defer sb.Close()
	prewarm(t, sb)
	p, err := sb.Run(sandbox.Command("/bin/sh", "-c", "echo x >/tmp/left; sleep 1000"))
	if err != nil {
		t.Fatal(err)
	}
	first := p.Pid()
	res, err := p.Wait()
	if err != nil || res.Limit != sandbox.LimitTime {
		t.Fatalf("sleep under a time limit: %v, %v, limit %q", res, err, res.Limit)
	}
	if err := p.Kill(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Kill after Wait: %v; want os.ErrProcessDone", err)
	}
	out, res := reuseRun(t, sb, sandbox.Command("/bin/ls", "-A", "/tmp"))
	if out != "" || !res.Success() {
		t.Errorf("after a run killed at its time limit: %v, %q", res, out)
	}
	prewarm(t, sb)
	p, err = sb.Run(sandbox.Command("/bin/true"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid() == first {
		t.Errorf("the sandbox of a run killed at its limit was reused (init %d)", first)
	}
	p.Wait()
}

// TestReuseSameInit: a run that ends on its own hands its sandbox to the
// next run (the same init), which finds it clean.
func TestReuseSameInit(t *testing.T) {
	requireSandbox(t)
	sb := newSandbox(t, sandbox.Options{Pool: 1, Reuse: true})
	defer sb.Close()
	var inits []int
	for i := range 3 {
		prewarm(t, sb)
		// The listing of /tmp, which the run before left a file in, then a
		// line that shows the listing ran.
		c := sandbox.Command("/bin/sh", "-c", "ls -A /tmp && echo listed; touch /tmp/f")
		var out strings.Builder
		c.Stdout = &out
		p, err := sb.Run(c)
		if err != nil {
			t.Fatal(err)
		}
		inits = append(inits, p.Pid())
		if res, err := p.Wait(); err != nil || !res.Success() {
			t.Fatalf("%v, %v", res, err)
		}
		if out.String() != "listed\n" {
			t.Errorf("run %d: /tmp lists %q; want it empty (\"listed\" alone)", i, out.String())
		}
	}
	if inits[0] != inits[1] || inits[1] != inits[2] {
		t.Errorf("inits of three runs in a reused pool of one: %v; want one", inits)
	}
}

// TestReuseIPCNamespacePerRun: every run of a reused sandbox, the first
// included, has an IPC namespace of its own, and once the sandbox is back
// in the pool no thread of its init holds the last run's: the kernel frees
// what the run left there (SysV memory would otherwise stay pinned for the
// sandbox's life, though no later run could see it). The test holds each
// run's namespace open from the host, so its inode number cannot be reused
// by a later one while it compares them.
func TestReuseIPCNamespacePerRun(t *testing.T) {
	requireSandbox(t)
	sb := newSandbox(t, sandbox.Options{Pool: 1, Reuse: true})
	defer sb.Close()
	var held []uint64 // the runs' namespaces, kept alive by the files below
	for i := range 3 {
		prewarm(t, sb)
		c := sandbox.Command("/bin/sh", "-c", "read x; exit 0") // until the host closes stdin
		r, stdin, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		c.Stdin = r
		p, err := sb.Run(c)
		r.Close()
		if err != nil {
			stdin.Close()
			t.Fatal(err)
		}
		ns, err := commandIPCNamespace(p.Pid())
		if err != nil {
			p.Kill()
			p.Wait()
			t.Fatal(err)
		}
		defer ns.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(ns.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		stdin.Close()
		if res, err := p.Wait(); err != nil || !res.Success() || !res.Warm {
			t.Fatalf("run %d: %v, %v", i, res, err)
		}
		if slices.Contains(held, st.Ino) {
			t.Errorf("run %d: IPC namespace %d, an earlier run's", i, st.Ino)
		}
		held = append(held, st.Ino)
		prewarm(t, sb) // back in the pool: the launcher has moved on
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			var ts unix.Stat_t
			if err := unix.Stat(fmt.Sprintf("/proc/%d/task/%s/ns/ipc", p.Pid(), task.Name()), &ts); err != nil {
				continue // the thread ended
			}
			if slices.Contains(held, ts.Ino) {
				t.Errorf("after run %d: init thread %s holds a run's IPC namespace (%d)", i, task.Name(), ts.Ino)
			}
		}
	}
}

// commandIPCNamespace opens the IPC namespace of the command running
// under the init whose host pid is init (waiting for it to start).
func commandIPCNamespace(init int) (*os.File, error) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if kids := testutil.Children(init); len(kids) > 0 {
			return os.Open(fmt.Sprintf("/proc/%d/ns/ipc", kids[0]))
		}
	}
	return nil, errors.New("the command did not show up under its init")
}

// TestReuseDiscardsWhatItCannotRestore: a run that removes or replaces an
// entry the sandbox was built with (the /dev/fd link, in the writable /dev)
// makes the reset fail; the sandbox is not reused, and the next run gets
// a new one, whole. (Landlock, where the kernel has it, would refuse the
// change in /dev: it is off here so the reset's own check is what holds.)
func TestReuseDiscardsWhatItCannotRestore(t *testing.T) {
	requireSandbox(t)
	sb := newSandbox(t, sandbox.Options{Pool: 1, Reuse: true, Landlock: sandbox.LandlockOff})
	defer sb.Close()
	for _, script := range []string{"rm /dev/fd", "rm /dev/stdin && ln -s /proc/self/fd/1 /dev/stdin"} {
		prewarm(t, sb)
		p, err := sb.Run(sandbox.Command("/bin/sh", "-c", script))
		if err != nil {
			t.Fatal(err)
		}
		first := p.Pid()
		if res, err := p.Wait(); err != nil || !res.Success() {
			t.Fatalf("%q: %v, %v", script, res, err)
		}
		out, _ := reuseRun(t, sb, sandbox.Command("/bin/sh", "-c", "readlink /dev/fd; readlink /dev/stdin"))
		if out != "/proc/self/fd\n/proc/self/fd/0\n" {
			t.Errorf("after %q the next run sees /dev/fd, /dev/stdin as %q", script, out)
		}
		prewarm(t, sb)
		p, err = sb.Run(sandbox.Command("/bin/true"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Pid() == first {
			t.Errorf("after %q the sandbox was reused", script)
		}
		p.Wait()
	}
}

// tcpPort is the loopback port the tcp helper uses.
const tcpPort = 4243

// tcpHelper, with mode "leave", makes a loopback connection to tcpPort and
// closes the server's end first, leaving it in TIME_WAIT; then, in any
// mode, it binds tcpPort (without SO_REUSEADDR) and prints the outcome and
// the entries of /proc/net/tcp.
func tcpHelper(mode string) int {
	if mode == "leave" {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		s, err := ln.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			return 1
		}
		s.Close() // the active close: TIME_WAIT on this side, port tcpPort
		c.Read(make([]byte, 1))
		c.Close()
		ln.Close()
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: tcpPort, Addr: [4]byte{127, 0, 0, 1}})
		unix.Close(fd)
	}
	fmt.Println("bind:", err)
	b, _ := os.ReadFile("/proc/net/tcp")
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	fmt.Println("entries:", len(lines)-1)
	for _, l := range lines[1:] {
		fmt.Println(l)
	}
	return 0
}

// TestReuseNetworkNamespacePerRun: a run of a reused NetworkNone sandbox
// that used the network leaves the next a network namespace of its own,
// loopback up: its TIME_WAIT entries neither keep the next run from binding
// their port nor show in its /proc/net/tcp.
func TestReuseNetworkNamespacePerRun(t *testing.T) {
	requireSandbox(t)
	sb := newSandbox(t, sandbox.Options{Pool: 1, Reuse: true, Mounts: []sandbox.Mount{probe(t)}})
	defer sb.Close()
	tcp := func(mode string) (string, int) {
		t.Helper()
		prewarm(t, sb)
		c := helperCmd("tcp", mode)
		var out strings.Builder
		c.Stdout, c.Stderr = &out, &out
		p, err := sb.Run(c)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := p.Wait(); err != nil || !res.Success() || !res.Warm {
			t.Fatalf("%s: %v, %v\n%s", mode, res, err, out.String())
		}
		return out.String(), p.Pid()
	}
	out, init := tcp("leave")
	// The control: the first run's own bind fails on its TIME_WAIT entry.
	if !strings.Contains(out, "bind: address already in use") || !strings.Contains(out, fmt.Sprintf(":%04X", tcpPort)) {
		t.Fatalf("first run:\n%s", out)
	}
	out, again := tcp("check")
	if again != init {
		t.Fatalf("the second run had another sandbox (init %d, then %d)", init, again)
	}
	if !strings.Contains(out, "bind: <nil>") || !strings.Contains(out, "entries: 0") {
		t.Errorf("second run, same sandbox:\n%s", out)
	}
	// The namespace is renewed only after a run that left a trace in it
	// (its cost): runs that use no network share it, as the run above
	// (which only bound a port) does with the next.
	ns := func() string {
		t.Helper()
		prewarm(t, sb)
		var out strings.Builder
		c := sandbox.Command("/bin/readlink", "/proc/self/ns/net")
		c.Stdout, c.Stderr = &out, &out
		p, err := sb.Run(c)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := p.Wait(); err != nil || !res.Success() || p.Pid() != init {
			t.Fatalf("readlink: %v, %v (init %d, want %d)\n%s", res, err, p.Pid(), init, out.String())
		}
		return out.String()
	}
	quiet1, quiet2 := ns(), ns()
	tcp("leave")
	after := ns()
	if quiet1 != quiet2 || after == quiet2 {
		t.Errorf("network namespaces of two quiet runs, then of one after a connection: %q, %q, %q; want the same twice, then another", quiet1, quiet2, after)
	}
}
