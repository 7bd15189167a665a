package sandbox_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
		sig    syscall.Signal
	}{
		{"exit 0", 0, 0},
		{"exit 3", 3, 0},
		{"exit 255", 255, 0},
		{"kill -TERM $$", -1, syscall.SIGTERM},
		{"kill -KILL $$", -1, syscall.SIGKILL},
		{"kill -SEGV $$", -1, syscall.SIGSEGV},
	} {
		_, _, res := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", tc.script))
		if res.ExitCode != tc.code || res.Signal != tc.sig {
			t.Errorf("%q: got %v (code %d, signal %d), want code %d signal %v", tc.script, res, res.ExitCode, res.Signal, tc.code, tc.sig)
		}
		if res.Wall <= 0 {
			t.Errorf("%q: wall time %v", tc.script, res.Wall)
		}
	}
}

func TestStdio(t *testing.T) {
	c := sandbox.Command("/bin/sh", "-c", "tr a-z A-Z; echo oops >&2")
	c.Stdin = strings.NewReader("hello\n")
	out, errs, _ := run(t, sandbox.Options{}, c)
	if out != "HELLO\n" || errs != "oops\n" {
		t.Errorf("stdout %q, stderr %q", out, errs)
	}
	// *os.File streams are passed as they are.
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c = sandbox.Command("/bin/echo", "to a file")
	c.Stdout = f
	run(t, sandbox.Options{}, c)
	if b, _ := os.ReadFile(f.Name()); string(b) != "to a file\n" {
		t.Errorf("file got %q", b)
	}
}

func TestExtraFiles(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := sandbox.Command("/bin/sh", "-c", "echo via fd 3 >&3")
	c.ExtraFiles = []*os.File{w}
	run(t, sandbox.Options{}, c)
	w.Close()
	if b, _ := io.ReadAll(r); string(b) != "via fd 3\n" {
		t.Errorf("fd 3 carried %q", b)
	}
}

func TestSignalForwarding(t *testing.T) {
	p, lines := start(t, context.Background(), `trap 'echo got USR1; exit 7' USR1; echo ready; while :; do sleep 0.05; done`)
	if err := p.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || res.ExitCode != 7 {
		t.Fatalf("after SIGUSR1: %v, %v", res, err)
	}
	if l := <-lines; l != "got USR1" {
		t.Errorf("output %q", l)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit: %v, want os.ErrProcessDone", err)
	}
}

func TestContextCancelKillsTree(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, _ := start(t, ctx, `sleep 100 & sleep 100 & (sleep 100 &); echo ready; wait`)
	tree := descendants(p.Pid())
	if len(tree) < 4 {
		t.Fatalf("expected the init, a shell and three sleeps; got %v", tree)
	}
	cancel()
	res, err := p.Wait()
	if !errors.Is(err, context.Canceled) || res == nil || res.Signal != syscall.SIGKILL {
		t.Fatalf("Wait after cancel: %v, %v; want SIGKILL and context.Canceled", res, err)
	}
	assertGone(t, tree)
}

func TestKillKillsTree(t *testing.T) {
	p, _ := start(t, context.Background(), `trap '' TERM INT; sleep 100 & echo ready; wait`)
	tree := descendants(p.Pid())
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || res.Signal != syscall.SIGKILL {
		t.Fatalf("Wait after Kill: %v, %v", res, err)
	}
	assertGone(t, tree)
}

// TestHostDeathKillsSandbox kills a host program with SIGKILL while its
// sandbox runs, and checks that nothing of the sandbox survives it.
func TestHostDeathKillsSandbox(t *testing.T) {
	hostDeath(t)
}

// TestHostDeathKillsPool: the sandboxes waiting in a pool die with their
// host too, and leave no cgroup once the next sandbox has run.
func TestHostDeathKillsPool(t *testing.T) {
	before := testutil.SandboxCgroups()
	hostDeath(t, "pooled", "limited")
	runLimited(t, sandbox.Limits{Pids: 64}, "true")
	after := testutil.SandboxCgroups()
	for _, cg := range after {
		if !slices.Contains(before, cg) && !strings.Contains(cg, fmt.Sprintf("corral-%d.", os.Getpid())) {
			t.Errorf("cgroup of the killed host's pool left: %s", cg)
		}
	}
}

// TestHostDeathLeavesNoCgroup: a host killed with SIGKILL cannot remove its
// sandbox's cgroup; the next sandbox under the same parent does.
func TestHostDeathLeavesNoCgroup(t *testing.T) {
	before := testutil.SandboxCgroups()
	hostDeath(t, "limited")
	left := testutil.SandboxCgroups()
	if len(left) <= len(before) {
		t.Fatalf("the killed host left no cgroup behind (%v); the test proves nothing", left)
	}
	runLimited(t, sandbox.Limits{Pids: 64}, "true")
	after := testutil.SandboxCgroups()
	for _, cg := range left {
		if !slices.Contains(before, cg) && slices.Contains(after, cg) {
			t.Errorf("stale cgroup not removed by the next sandbox: %v", cg)
		}
	}
}

// hostDeath starts a host program that runs a sandbox, kills the host with
// SIGKILL, and checks that every process of the sandbox dies with it.
func hostDeath(t *testing.T, args ...string) {
	requireSandbox(t)
	exe, _ := os.Executable()
	host := exec.Command(exe, args...)
	host.Env = append(os.Environ(), "CORRAL_TEST_HELPER=host")
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		host.Process.Kill()
		host.Wait()
		t.Fatalf("host helper said %q (%v)", line, err)
	}
	// Everything the host started: its sandbox's init and command, and
	// with a pool the 3 inits waiting in it.
	want := 2
	if slices.Contains(args, "pooled") {
		want += 3
	}
	var tree []int
	for deadline := time.Now().Add(5 * time.Second); len(tree) < want && time.Now().Before(deadline); {
		tree = descendants(host.Process.Pid)[1:]
		time.Sleep(10 * time.Millisecond)
	}
	if len(tree) < want || !slices.Contains(tree, pid) {
		t.Fatalf("the host's tree (sandbox init %d): %v; want %d processes", pid, tree, want)
	}
	host.Process.Kill()
	host.Wait()
	assertGone(t, tree)
}

// TestZombiesReaped: orphans that exit are reaped by the sandbox's init
// while the command runs. The control, a child of a process that never
// waits (sleep), shows that a zombie reads as state Z here; every line must
// be there, so an empty or broken output fails. The control's child exits
// well after its parent's exec: one that exits before it may be reaped by
// the shell itself (busybox's ash reaps finished jobs before it runs a
// command), and would read as gone.
func TestZombiesReaped(t *testing.T) {
	out := sh(t, sandbox.Options{}, `
		state() { if [ -e /proc/$1/stat ]; then cut -d')' -f2 /proc/$1/stat | cut -d' ' -f2; else echo gone; fi; }
		sh -c 'sleep 0.5 & echo $! >/tmp/z; exec sleep 10' & control=$!
		(sh -c 'exit 0' & echo $! >/tmp/a); (sh -c 'exit 0' & echo $! >/tmp/b)
		sleep 1
		echo "control $(state $(cat /tmp/z))"
		for p in $(cat /tmp/a /tmp/b); do echo "orphan $(state $p)"; done
		kill $control`)
	if want := "control Z\norphan gone\norphan gone\n"; out != want {
		t.Errorf("states of a child nobody waits for and of two exited orphans:\n%s\nwant:\n%s", out, want)
	}
}

func TestExecErrors(t *testing.T) {
	requireSandbox(t)
	for _, tc := range []struct {
		cmd  *sandbox.Cmd
		step string
		want error
	}{
		{sandbox.Command("no-such-command"), "exec", fs.ErrNotExist},
		{sandbox.Command("/no/such/file"), "exec", fs.ErrNotExist},
		{sandbox.Command("/etc/passwd"), "exec", syscall.EACCES},
		{&sandbox.Cmd{Path: "/bin/true", Dir: "/no/such/dir"}, "chdir", fs.ErrNotExist},
	} {
		_, err := newSandbox(t, sandbox.Options{}).Run(tc.cmd)
		var se *sandbox.SetupError
		if !errors.As(err, &se) || se.Step != tc.step || !errors.Is(err, tc.want) {
			t.Errorf("%v: got %v, want a SetupError at step %q matching %v", tc.cmd.Args, err, tc.step, tc.want)
		}
	}
}

func TestMainNotCalled(t *testing.T) {
	old := sandbox.SetMainCalled(false)
	defer sandbox.SetMainCalled(old)
	_, err := newSandbox(t, sandbox.Options{}).Run(sandbox.Command("/bin/true"))
	if !errors.Is(err, sandbox.ErrMainNotCalled) {
		t.Errorf("Run without Main: %v", err)
	}
}

func TestConcurrentRuns(t *testing.T) {
	requireSandbox(t)
	sb := newSandbox(t, sandbox.Options{})
	errc := make(chan error, 16)
	for i := 0; i < cap(errc); i++ {
		go func() {
			var out bytes.Buffer
			c := sandbox.Command("/bin/sh", "-c", "echo $0", strconv.Itoa(i))
			c.Stdout = &out
			p, err := sb.Run(c)
			if err == nil {
				_, err = p.Wait()
			}
			if err == nil && out.String() != strconv.Itoa(i)+"\n" {
				err = errors.New("wrong output " + out.String())
			}
			errc <- err
		}()
	}
	for i := 0; i < cap(errc); i++ {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}

// start runs script in a default sandbox and waits until it prints "ready".
// It returns the process and the script's later output lines.
func start(t *testing.T, ctx context.Context, script string) (*sandbox.Process, <-chan string) {
	t.Helper()
	requireSandbox(t)
	r, w := io.Pipe()
	c := sandbox.Command("/bin/sh", "-c", script)
	c.Stdout = w
	p, err := newSandbox(t, sandbox.Options{}).RunContext(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill(); p.Wait(); w.Close() })
	lines := make(chan string, 16)
	sc := bufio.NewScanner(r)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("script did not get ready: %q", sc.Text())
	}
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return p, lines
}

// descendants returns pid and every live process below it.
func descendants(pid int) []int {
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, testutil.Children(tree[i])...)
	}
	return tree
}

// assertGone waits up to 5 s for every pid to be gone.
func assertGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for testutil.Alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of the sandbox survived", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestResultUsage(t *testing.T) {
	_, _, res := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", `i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done`))
	if res.UserTime+res.SystemTime < 10*time.Millisecond || res.MaxRSS < 100<<10 {
		t.Errorf("usage of a busy loop: user %v, system %v, max rss %d", res.UserTime, res.SystemTime, res.MaxRSS)
	}
}

// TestInitSurvivesSignals: without Landlock's signal scope (off here by
// the test's switch) the command can signal its init (pid 1) with
// anything; the init neither dies nor prints, and forwards what it
// forwards. With the scope (Linux 6.12), every signal is refused.
func TestInitSurvivesSignals(t *testing.T) {
	script := `
		trap '' TERM INT HUP USR1 USR2 QUIT WINCH ALRM
		for s in ABRT TRAP SYS PIPE SEGV BUS FPE ILL XCPU XFSZ PROF VTALRM PWR IO TSTP TTIN TTOU TERM INT HUP USR1 QUIT; do
			kill -$s 1 2>/dev/null || echo refused >&2
		done
		sleep 0.2; echo alive`
	old := sandbox.SetSignalScope(false)
	out, errs, res := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", script))
	sandbox.SetSignalScope(old)
	if out != "alive\n" || errs != "" || !res.Success() {
		t.Errorf("after signalling pid 1: %v, stdout %q, stderr %q", res, out, errs)
	}
	if !signalScoped() {
		return
	}
	out, errs, res = run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", script))
	if out != "alive\n" || errs != strings.Repeat("refused\n", 22) || !res.Success() {
		t.Errorf("after signalling pid 1 under the signal scope: %v, stdout %q, stderr %q; want 22 refused", res, out, errs)
	}
}

func TestRlimits(t *testing.T) {
	if got := sh(t, sandbox.Options{}, `ulimit -c`); got != "0\n" {
		t.Errorf("core dumps by default: ulimit -c = %q; want 0", got)
	}
	opts := sandbox.Options{Rlimits: sandbox.Rlimits{Core: 1 << 20, OpenFiles: 64, Stack: 4 << 20, FileSize: 1 << 20}}
	out := sh(t, opts, `ulimit -c; ulimit -n; ulimit -s; ulimit -f
		(trap '' XFSZ; dd if=/dev/zero of=/tmp/big bs=1M count=2 2>&1 | grep -c "File too large")`)
	if want := "2048\n64\n4096\n2048\n1\n"; out != want { // dash counts -c and -f in 512-byte blocks
		t.Errorf("rlimits inside: %q; want %q (core and fsize in 512-byte blocks, nofile, stack in KiB, then one refused write)", out, want)
	}
}
