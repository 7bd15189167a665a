package backend

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"github.com/corral-dev/corral/internal/testutil"
)

// newBwrap returns the bwrap backend, closed at the test's end, or fails
// (on CI) or skips (elsewhere) saying why this host cannot run it.
func newBwrap(t *testing.T) job.Backend {
	t.Helper()
	testutil.RequireProgram(t, "bwrap")
	b, err := NewBwrap(Config{})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("bwrap does not work here: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		bwrapNoLeak(t, b.(*bwrapBackend))
	})
	return b
}

// The server's languages, installed here or not.
var (
	bwrapSh = lang.Find(lang.All(), "sh")
	bwrapPy = lang.Find(lang.All(), "python3")
	bwrapC  = lang.Find(lang.All(), "c")
)

// bwrapLimits are a run step's limits, roomy enough for python3.
var bwrapLimits = job.Limits{WallTime: 10 * time.Second, CPUTime: 5 * time.Second, Memory: 256 << 20, Pids: 32, Output: 64 << 10}

func bwrapRun(t *testing.T, b job.Backend, lang *job.Language, src string, lim job.Limits) *job.Outcome {
	t.Helper()
	out, err := b.Run(context.Background(), &job.Job{Language: lang,
		Files: map[string][]byte{lang.Source: []byte(src)}, Run: lim,
		Compile: job.Limits{WallTime: 30 * time.Second, CPUTime: 20 * time.Second, Memory: 512 << 20, Pids: 64, Output: 64 << 10}})
	if err != nil {
		t.Fatalf("Run(%s): %v", lang.Name, err)
	}
	if out.Run == nil {
		t.Fatalf("Run(%s): no run step; compile: %+v", lang.Name, out.Compile)
	}
	return out
}

func TestBwrapHello(t *testing.T) {
	b := newBwrap(t)
	testutil.RequireProgram(t, "python3")
	for _, tc := range []struct {
		lang *job.Language
		src  string
	}{
		{bwrapSh, `echo "hello, $(id -u) in $PWD"; echo err >&2`},
		{bwrapPy, "import os, sys\nprint(f'hello, {os.getuid()} in {os.getcwd()}')\nprint('err', file=sys.stderr)"},
	} {
		t.Run(tc.lang.Name, func(t *testing.T) {
			r := bwrapRun(t, b, tc.lang, tc.src, bwrapLimits).Run
			if got, want := string(r.Stdout), "hello, 0 in /work\n"; got != want || !r.Success() {
				t.Fatalf("stdout %q, want %q; step %+v", got, want, r)
			}
			if string(r.Stderr) != "err\n" {
				t.Errorf("stderr %q, want %q", r.Stderr, "err\n")
			}
			if r.WallTime <= 0 || r.CPUTime <= 0 || r.MemoryPeak < 1<<20 {
				t.Errorf("wall %v, CPU %v, peak %d bytes: want all above zero (peak above 1 MiB)", r.WallTime, r.CPUTime, r.MemoryPeak)
			}
		})
	}
}

func TestBwrapStdinAndExit(t *testing.T) {
	b := newBwrap(t)
	out, err := b.Run(context.Background(), &job.Job{Language: bwrapSh,
		Files: map[string][]byte{"main.sh": []byte("read x; echo got $x; . lib/more.sh; exit 7"),
			"lib/more.sh": []byte("echo more")},
		Stdin: []byte("line\n"), Run: bwrapLimits})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Run
	if string(r.Stdout) != "got line\nmore\n" || r.ExitCode != 7 || r.Signal != "" || r.Limit != "" {
		t.Fatalf("got stdout %q, exit %d, signal %q, limit %q; want %q, exit 7", r.Stdout, r.ExitCode, r.Signal, r.Limit, "got line\nmore\n")
	}
}

func TestBwrapCompile(t *testing.T) {
	b := newBwrap(t)
	testutil.RequireProgram(t, "gcc")
	// The run step sees what the compile step wrote to /work/out, and
	// nothing else of it: not the sources, not its /tmp, not its processes.
	marker := fmt.Sprintf("%d.%d", 3000+rand.IntN(1000), rand.Uint32())
	out, err := b.Run(context.Background(), &job.Job{Language: bwrapC,
		Files: map[string][]byte{
			"main.c": []byte(`#include <stdio.h>
#include <stdlib.h>
int main(void) { puts("compiled"); fflush(stdout); return system("ls -a; ls /work /tmp; ps -e -o comm= | grep -c sleep"); }`),
			"helper.c": []byte("int helper(void) { return 1; }"),
		},
		Compile: job.Limits{WallTime: 30 * time.Second, CPUTime: 20 * time.Second, Memory: 512 << 20, Pids: 64, Output: 64 << 10},
		Run:     bwrapLimits})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Compile.Success() || out.Run == nil {
		t.Fatalf("compile %+v", out.Compile)
	}
	if got, want := string(out.Run.Stdout), "compiled\n.\n..\nprog\n/tmp:\n\n/work:\nout\n0\n"; got != want {
		t.Errorf("run step: stdout %q, want %q; stderr %q", got, want, out.Run.Stderr)
	}
	// The same, with a compile step that leaves things behind.
	left := *bwrapC
	left.Compile = append([]string{"/bin/sh", "-c", "(sleep " + marker + " &); echo x > /tmp/x; echo y > y; exec \"$0\" \"$@\""}, bwrapC.Compile...)
	out, err = b.Run(context.Background(), &job.Job{Language: &left,
		Files: map[string][]byte{"main.c": []byte(`#include <stdlib.h>
int main(void) { return system("ls -a; ls /work /tmp; ps -e -o comm= | grep -c sleep"); }`)},
		Compile: job.Limits{WallTime: 30 * time.Second, CPUTime: 20 * time.Second, Memory: 512 << 20, Pids: 64, Output: 64 << 10},
		Run:     bwrapLimits})
	if err != nil {
		t.Fatal(err)
	}
	if out.Run == nil {
		t.Fatalf("compile %+v", out.Compile)
	}
	if got, want := string(out.Run.Stdout), ".\n..\nprog\n/tmp:\n\n/work:\nout\n0\n"; got != want {
		t.Errorf("run step after a messy compile: stdout %q, want %q; stderr %q", got, want, out.Run.Stderr)
	}
	bwrapNoProcess(t, marker)

	bad, err := b.Run(context.Background(), &job.Job{Language: bwrapC,
		Files: map[string][]byte{"main.c": []byte("int main(void) { return nope; }")}, Run: bwrapLimits,
		Compile: job.Limits{WallTime: 30 * time.Second, Memory: 512 << 20, Pids: 64, Output: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	if bad.Compile == nil || bad.Compile.ExitCode == 0 || !bytes.Contains(bad.Compile.Stderr, []byte("nope")) || bad.Run != nil {
		t.Fatalf("a compile error: got compile %+v, run %+v", bad.Compile, bad.Run)
	}
}

// TestBwrapLimits runs each bomb under a limit and, as the control that
// shows the test can fail, a tamer program under the same limit.
func TestBwrapLimits(t *testing.T) {
	b := newBwrap(t)
	testutil.RequireProgram(t, "python3")
	// The wall time is roomy: a loaded machine gives a process a fraction
	// of a CPU, and the CPU bomb must meet its CPU limit first.
	lim := job.Limits{WallTime: 30 * time.Second, CPUTime: time.Second, Memory: 128 << 20, Pids: 16, Output: 4096}
	for _, tc := range []struct {
		name, limit string
		lang        *job.Language
		bomb, tame  string
	}{
		{"wall", job.LimitWallTime, bwrapSh, "sleep 60", "sleep 0.1"},
		{"cpu", job.LimitCPUTime, bwrapPy, "while True: pass", "sum(range(1000))"},
		{"memory", job.LimitMemory, bwrapPy, "x = []\nwhile True: x.append(b'x' * (1 << 20))",
			"x = [b'x' * (1 << 20) for _ in range(32)]"},
		{"output", job.LimitOutput, bwrapSh, "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done", "seq 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := lim
			if tc.limit == job.LimitWallTime {
				lim.WallTime = time.Second
			}
			r := bwrapRun(t, b, tc.lang, tc.bomb, lim).Run
			if r.Limit != tc.limit || r.Success() {
				t.Fatalf("bomb: limit %q, want %q; exit %d signal %q cpu %v peak %d stderr %q",
					r.Limit, tc.limit, r.ExitCode, r.Signal, r.CPUTime, r.MemoryPeak, r.Stderr)
			}
			if tc.limit == job.LimitOutput && (int64(len(r.Stdout)) != lim.Output || !r.StdoutTruncated) {
				t.Errorf("output: kept %d bytes (truncated %v), want %d", len(r.Stdout), r.StdoutTruncated, lim.Output)
			}
			if c := bwrapRun(t, b, tc.lang, tc.tame, lim).Run; !c.Success() {
				t.Fatalf("control: %+v", c)
			}
		})
	}
}

// TestBwrapPids forks 40 sleeping children under a limit of 16 processes:
// some fail to start, and none outlives the job; under 64, all start.
func TestBwrapPids(t *testing.T) {
	b := newBwrap(t)
	testutil.RequireProgram(t, "python3")
	src := `import os, time
n = 0
for i in range(40):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
    except OSError:
        pass
print("started", n, flush=True)
os._exit(0)`
	for _, tc := range []struct {
		pids     int
		min, max int
	}{{16, 1, 15}, {64, 40, 40}} {
		lim := bwrapLimits
		lim.Pids = tc.pids
		r := bwrapRun(t, b, bwrapPy, src, lim).Run
		var n int
		if _, err := fmt.Sscanf(string(r.Stdout), "started %d", &n); err != nil {
			t.Fatalf("pids %d: stdout %q: %v", tc.pids, r.Stdout, err)
		}
		if n < tc.min || n > tc.max {
			t.Errorf("pids %d: %d processes in the sandbox, want %d to %d", tc.pids, n, tc.min, tc.max)
		}
	}
}

// TestBwrapForkBomb: a real fork bomb meets the process limit (its forks
// fail), the job ends, by its wall time at the latest, and leaves nothing
// behind.
func TestBwrapForkBomb(t *testing.T) {
	b := newBwrap(t)
	lim := job.Limits{WallTime: 3 * time.Second, CPUTime: 2 * time.Second, Memory: 64 << 20, Pids: 16, Output: 4096}
	marker := fmt.Sprintf("%d.%d", 5000+rand.IntN(1000), rand.Uint32())
	r := bwrapRun(t, b, bwrapSh, fmt.Sprintf("bomb() { sleep %s & bomb | bomb & }; bomb; sleep 2; echo survived", marker), lim).Run
	if !bytes.Contains(r.Stderr, []byte("fork")) {
		t.Errorf("no fork failed: exit %d, signal %q, limit %q, stdout %q, stderr %.200q", r.ExitCode, r.Signal, r.Limit, r.Stdout, r.Stderr)
	}
	bwrapNoProcess(t, marker)
}

// TestBwrapNothingOutlives: a job's background process dies with it.
func TestBwrapNothingOutlives(t *testing.T) {
	b := newBwrap(t)
	marker := fmt.Sprintf("%d.%d", 1000+rand.IntN(1000), rand.Uint32())
	r := bwrapRun(t, b, bwrapSh, "sleep "+marker+" & echo started", bwrapLimits).Run
	if string(r.Stdout) != "started\n" {
		t.Fatalf("stdout %q", r.Stdout)
	}
	bwrapNoProcess(t, marker)
}

// bwrapNoLeak fails if a closed backend left its directory or a bwrap
// process behind (the package's TestMain checks for fds, mounts and the
// rest).
func bwrapNoLeak(t *testing.T, b *bwrapBackend) {
	t.Helper()
	if _, err := os.Lstat(b.base); err == nil {
		t.Errorf("the backend's directory %s outlived Close", b.base)
	}
	for _, pid := range testutil.Children(os.Getpid()) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) == "bwrap\n" {
			t.Errorf("a bwrap process (pid %d) outlived Close", pid)
		}
	}
}

// bwrapNoProcess fails if a process whose command line holds marker lives
// (after a grace of 5 s).
func bwrapNoProcess(t *testing.T, marker string) {
	t.Helper()
	var found []string
	for range 50 {
		if found = bwrapFind(marker); len(found) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("processes of a finished job live on: pids %v", found)
}

// bwrapFind returns the pids of the processes that sleep for marker
// seconds (sleep's argv: "sleep", marker), zombies aside.
func bwrapFind(marker string) []string {
	var found []string
	m, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range m {
		c, err := os.ReadFile(p)
		if err != nil || !bytes.HasSuffix(c, []byte("\x00"+marker+"\x00")) {
			continue
		}
		pid := filepath.Base(filepath.Dir(p))
		if st, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && !bytes.Contains(st[bytes.LastIndexByte(st, ')'):], []byte(") Z ")) {
			found = append(found, pid)
		}
	}
	return found
}

// TestBwrapIsolation: one job sees nothing of another's files, nor the
// host's secrets, nor a network.
func TestBwrapIsolation(t *testing.T) {
	b := newBwrap(t)
	first := bwrapRun(t, b, bwrapSh, "echo secret > left.txt; ls", bwrapLimits).Run
	if string(first.Stdout) != "left.txt\nmain.sh\n" {
		t.Fatalf("first job: ls: %q", first.Stdout)
	}
	r := bwrapRun(t, b, bwrapSh, `ls; ls /tmp | wc -l; cat /etc/shadow 2>&1 | wc -c; ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1`, bwrapLimits).Run
	if got, want := string(r.Stdout), "main.sh\n0\n0\n    lo\n"; got != want {
		t.Fatalf("second job saw %q, want %q (its own file, an empty /tmp, an empty /etc/shadow, lo only); stderr %q", got, want, r.Stderr)
	}
	if _, err := os.Stat("/etc/shadow"); err != nil {
		t.Logf("this host has no /etc/shadow; the mask is not tested")
	}
}

// TestBwrapCancel: a job whose context ends is killed at once and the
// call returns the context's error; Close ends a running job too.
func TestBwrapCancel(t *testing.T) {
	b := newBwrap(t)
	marker := fmt.Sprintf("%d.%d", 2000+rand.IntN(1000), rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Run(ctx, &job.Job{Language: bwrapSh, Files: map[string][]byte{"main.sh": []byte("sleep " + marker)}, Run: bwrapLimits})
	if err == nil || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Fatalf("Run: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run returned %v after the context ended", d)
	}
	bwrapNoProcess(t, marker)

	done := make(chan error, 1)
	go func() {
		_, err := b.Run(context.Background(), &job.Job{Language: bwrapSh, Files: map[string][]byte{"main.sh": []byte("sleep " + marker)}, Run: bwrapLimits})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("Run: no error after Close")
	}
	bwrapNoProcess(t, marker)
	if _, err := b.Run(context.Background(), &job.Job{Language: bwrapSh, Run: bwrapLimits}); err != errBwrapClosed {
		t.Errorf("Run after Close: %v, want %v", err, errBwrapClosed)
	}
}

// TestBwrapUnwritableDir: a job that leaves a directory of mode 0 still
// has its work dir removed.
func TestBwrapUnwritableDir(t *testing.T) {
	b := newBwrap(t)
	r := bwrapRun(t, b, bwrapSh, "mkdir -p d/e && touch d/e/f && chmod 0 d/e d", bwrapLimits).Run
	if !r.Success() {
		t.Fatalf("%+v", r)
	}
	// TestMain's leak check finds a work dir left behind.
}

// bwrapTempDirs counts the bwrap backend's job dirs in the temp dir, for
// the leak check (TestMain, corral_test.go, through BwrapTempDirs).
func bwrapTempDirs() int {
	m, _ := filepath.Glob(filepath.Join(os.TempDir(), "coderunner-bwrap-*"))
	return len(m)
}

// TestBwrapHostKilled: a server killed (SIGKILL) while a job runs takes the
// job's sandbox along. The server is this test binary again, run with
// BWRAP_TEST_HOST set: it starts a job that sleeps and waits.
func TestBwrapHostKilled(t *testing.T) {
	if marker := os.Getenv("BWRAP_TEST_HOST"); marker != "" {
		b, err := NewBwrap(Config{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		b.Run(context.Background(), &job.Job{Language: bwrapSh,
			Files: map[string][]byte{"main.sh": []byte("sleep " + marker)}, Run: bwrapLimits})
		os.Exit(4) // not reached: the job sleeps past its killing
	}
	newBwrap(t) // this host can run bwrap, or the test says why not
	marker := fmt.Sprintf("%d.%d", 4000+rand.IntN(1000), rand.Uint32())
	host := exec.Command(os.Args[0], "-test.run=^TestBwrapHostKilled$")
	// Its work dirs, left by its death, go where the test removes them.
	// (Not t.TempDir, which nobody, as which a root host runs bwrap,
	// cannot enter.)
	tmp, err := os.MkdirTemp("", "bwrap-host-")
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := bwrapRemoveAll(tmp); err != nil {
			t.Error(err)
		}
	}()
	host.Env = append(os.Environ(), "BWRAP_TEST_HOST="+marker, "TMPDIR="+tmp)
	var stderr bytes.Buffer
	host.Stderr = &stderr
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	found := false
	for range 200 {
		if bwrapFind(marker) != nil {
			found = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	host.Process.Kill()
	err = host.Wait()
	if !found {
		t.Fatalf("the host's job never started (host: %v, stderr %q)", err, stderr.String())
	}
	bwrapNoProcess(t, marker)
}

// TestBwrapNoInheritedFd: an fd the server holds without close-on-exec
// (one it inherited, say) does not reach the sandbox.
func TestBwrapNoInheritedFd(t *testing.T) {
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	b := newBwrap(t)
	r := bwrapRun(t, b, bwrapSh, "ls /proc/self/fd | tr '\\n' ' '", bwrapLimits).Run
	if got, want := string(r.Stdout), "0 1 2 3 "; got != want { // 3: ls's own
		t.Errorf("the sandbox's fds: %q, want %q (fd %d is the test's)", got, want, fd)
	}
}

// BwrapTempDirs is bwrapTempDirs, for the external test package.
var BwrapTempDirs = bwrapTempDirs
