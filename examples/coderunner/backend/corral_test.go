package backend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/backend"
	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// TestMain makes the test binary its own sandbox init and checks that no
// sandbox outlives Close: no process, cgroup, mount, fd or temp dir, and
// no job dir of the bwrap backend.
func TestMain(m *testing.M) {
	sandbox.Main()
	// A temp dir of this test binary's own: the bwrap job dirs counted
	// are then this package's, not those of the packages tested alongside
	// it in the same TMPDIR (loadgen and the service start bwrap servers).
	// Enterable by all: a root bwrap backend runs bwrap as uid 65534, which
	// binds the job dirs from it.
	orig := os.TempDir()
	tmp, err := os.MkdirTemp(orig, "backend-test-")
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", tmp)
	before := backend.BwrapTempDirs()
	code := testutil.RunChecked(m)
	if left := backend.BwrapTempDirs() - before; left > 0 {
		fmt.Fprintf(os.Stderr, "LEAK CHECK FAILED: %d coderunner-bwrap-* temp dirs left in %s\n", left, os.TempDir())
		code = 1
	}
	os.Setenv("TMPDIR", orig)
	if err := os.RemoveAll(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

var (
	runLimits     = job.Limits{WallTime: 10 * time.Second, CPUTime: 5 * time.Second, Memory: 128 << 20, Pids: 32, Output: 64 << 10}
	compileLimits = job.Limits{WallTime: 120 * time.Second, CPUTime: 120 * time.Second, Memory: 768 << 20, Pids: 128, Output: 64 << 10}
)

// TestCorral fills the pools, runs an interpreted and a compiled job from
// them and one with limits of its own, then closes the backend while a
// job runs: the job ends, and the leak check finds nothing left.
func TestCorral(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	langs := lang.Detect("")
	sh := lang.Find(langs, "sh")
	if sh == nil {
		t.Fatal("sh is not offered: /bin/sh missing?")
	}
	b, err := backend.NewCorral(backend.Config{Pool: 2, Reuse: true, Run: runLimits, Compile: compileLimits, CgroupParent: testutil.CgroupParent()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	awaitReady(t, b)
	if p, ok := b.(interface{ PoolReady() int }); !ok || p.PoolReady() != 1 {
		t.Errorf("PoolReady: want 1 Box waiting (half the pool)")
	}
	ctx := context.Background()
	run := func(j *job.Job) *job.Outcome {
		t.Helper()
		o, err := b.Run(ctx, j)
		if err != nil {
			t.Fatalf("%s: %v", j.Language.Name, err)
		}
		return o
	}
	o := run(&job.Job{Language: sh, Files: map[string][]byte{"main.sh": []byte("cat; echo $0")}, Stdin: []byte("in\n"), Run: runLimits})
	if o.Compile != nil || o.Run == nil || string(o.Run.Stdout) != "in\nmain.sh\n" || !o.Run.Success() {
		t.Errorf("sh: %+v", o.Run)
	}
	other := runLimits
	other.Memory = 64 << 20 // not the pool's: a sandbox of its own
	o = run(&job.Job{Language: sh, Files: map[string][]byte{"main.sh": []byte("echo other")}, Run: other})
	if string(o.Run.Stdout) != "other\n" {
		t.Errorf("sh with other limits: %+v", o.Run)
	}
	if c := lang.Find(langs, "c"); c != nil {
		o = run(&job.Job{Language: c, Files: map[string][]byte{"main.c": []byte("#include <stdio.h>\nint main(void){puts(\"c\"); return 0;}\n")}, Compile: compileLimits, Run: runLimits})
		if o.Compile == nil || !o.Compile.Success() || o.Run == nil || string(o.Run.Stdout) != "c\n" {
			t.Errorf("c: compile %+v run %+v", o.Compile, o.Run)
		}
	} else {
		t.Log("gcc is not installed: the compiled job is not run")
	}
	// Close while a job runs: the job is killed, Close waits for it.
	done := make(chan error, 1)
	go func() {
		_, err := b.Run(ctx, &job.Job{Language: sh, Files: map[string][]byte{"main.sh": []byte("sleep 30")}, Run: runLimits})
		done <- err
	}()
	for len(running("sleep\x0030")) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "backend: corral") {
		t.Errorf("the job running at Close: %v, want the backend's error", err)
	}
	if _, err := b.Run(ctx, &job.Job{Language: sh, Files: map[string][]byte{"main.sh": nil}, Run: runLimits}); err == nil {
		t.Error("Run after Close: no error")
	}
}

// running lists the pids of live processes whose command line holds s.
func running(s string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestCompileArgv: the compile step hands file names to the compiler as
// they are, whatever they hold (the service refuses such names; this is
// the second fence): a name that reads as gcc's options makes gcc run no
// injected command. The run step checks for the file the command would
// have made.
func TestCompileArgv(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	c := lang.Find(lang.Detect(""), "c")
	if c == nil {
		testutil.RequireProgram(t, "gcc")
		t.Skip("gcc is installed but not where the sandbox sees it")
	}
	b, err := backend.NewCorral(backend.Config{Run: runLimits, Compile: compileLimits, CgroupParent: testutil.CgroupParent()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	files := map[string][]byte{
		"main.c":                      []byte("#include <stdio.h>\nint main(void){ FILE *f = fopen(\"pwned\", \"r\"); puts(f ? \"pwned\" : \"clean\"); return 0; }\n"),
		"evil.sh":                     []byte(`echo INJ""ECTED >&2; touch /work/out/pwned; exec "$@"`),
		"a.c -wrapper sh,evil.sh b.c": nil,
	}
	o, err := b.Run(context.Background(), &job.Job{Language: c, Files: files, Compile: compileLimits, Run: runLimits})
	if err != nil {
		t.Fatal(err)
	}
	if o.Compile == nil || strings.Contains(string(o.Compile.Stderr), "INJECTED") {
		t.Fatalf("the injected command ran: compile %+v", o.Compile)
	}
	if o.Run != nil && string(o.Run.Stdout) != "clean\n" {
		t.Fatalf("the run step found %q: the injected command ran; compile %+v", o.Run.Stdout, o.Compile)
	}
	// The control: the same wrapper given to gcc on purpose makes the
	// file the run step looks for.
	ctl := *c
	ctl.Compile = []string{"/bin/sh", "-c", "exec /usr/bin/gcc -wrapper sh,evil.sh -o " + lang.OutDir + "/" + lang.Program + " main.c"}
	o, err = b.Run(context.Background(), &job.Job{Language: &ctl, Files: files, Compile: compileLimits, Run: runLimits})
	if err != nil {
		t.Fatal(err)
	}
	if o.Run == nil || string(o.Run.Stdout) != "pwned\n" || !strings.Contains(string(o.Compile.Stderr), "INJECTED") {
		t.Fatalf("control: compile %+v run %+v: want the run step to find the file", o.Compile, o.Run)
	}
}

// TestBoxPoolUsed: a compiled job whose limits differ from the defaults
// only where each step's Exec applies them (its output, as the service
// sets it, its wall and CPU time) takes a pooled Box; the control, a job
// whose run step needs more memory than the pool's Boxes have, does not.
func TestBoxPoolUsed(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	c := lang.Find(lang.Detect(""), "c")
	if c == nil {
		testutil.RequireProgram(t, "gcc")
		t.Skip("gcc is installed but not where the sandbox sees it")
	}
	defaultCompile := compileLimits
	defaultCompile.Output = 0 // as the server's -max flags make it
	b, err := backend.NewCorral(backend.Config{Pool: 2, Run: runLimits, Compile: defaultCompile, CgroupParent: testutil.CgroupParent()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	awaitReady(t, b)
	src := map[string][]byte{"main.c": []byte("#include <stdio.h>\nint main(void){puts(\"c\"); return 0;}\n")}
	run := func(compile, run job.Limits) {
		t.Helper()
		o, err := b.Run(context.Background(), &job.Job{Language: c, Files: src, Compile: compile, Run: run})
		if err != nil {
			t.Fatal(err)
		}
		if o.Run == nil || string(o.Run.Stdout) != "c\n" {
			t.Fatalf("compile %+v run %+v", o.Compile, o.Run)
		}
	}
	stepCompile, stepRun := defaultCompile, runLimits
	stepCompile.Output = 1 << 10
	stepRun.Output, stepRun.WallTime, stepRun.CPUTime = 1<<10, 3*time.Second, time.Second
	run(stepCompile, stepRun)
	if n := backend.PooledBoxes(b); n != 1 {
		t.Errorf("Boxes taken from the pool: %d, want 1", n)
	}
	bigger := runLimits
	bigger.Memory = compileLimits.Memory + 1<<20
	run(stepCompile, bigger)
	if n := backend.PooledBoxes(b); n != 1 {
		t.Errorf("control: Boxes taken from the pool after a job with more memory: %d, want still 1", n)
	}
}

// TestPrewarmRetried: a pool that fails to fill twice (a transient error)
// is logged and tried again until it fills: the backend becomes ready.
// The control, a pool that always fails, never does, and Close ends the
// retries.
func TestPrewarmRetried(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	for _, c := range []struct {
		name  string
		fails int
		ready bool
	}{
		{"transient", 2, true},
		{"control: always failing", 1 << 30, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs strings.Builder
			var mu sync.Mutex
			var calls atomic.Int64
			log := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
			var b job.Backend
			b, err := backend.NewCorralPrewarm(backend.Config{Pool: 2, Run: runLimits, Compile: compileLimits, CgroupParent: testutil.CgroupParent(), Logger: log},
				func(ctx context.Context) error {
					if calls.Add(1) <= int64(c.fails) {
						return errors.New("transient trouble")
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			deadline := time.Now().Add(2 * time.Minute)
			if !c.ready {
				deadline = time.Now().Add(1500 * time.Millisecond) // 100+200+400+800 ms: 4 tries
			}
			for !b.Ready() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if b.Ready() != c.ready {
				t.Fatalf("ready %v after %d tries, want %v", b.Ready(), calls.Load(), c.ready)
			}
			if n := calls.Load(); n < 3 {
				t.Errorf("prewarm called %d times, want at least 3", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(logs.String(), "transient trouble") {
				t.Errorf("the failure is not logged: %q", logs.String())
			}
		})
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestCorralSmallInit: with Config.Init the sandboxes boot from that
// corral-init binary (the server's -init): the pooled inits run it, not
// the test binary (the control: without Init they run the test binary),
// and jobs run as before.
func TestCorralSmallInit(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	init := os.Getenv("CORRAL_TEST_INIT")
	if init == "" {
		msg := "CORRAL_TEST_INIT names no corral-init binary (.ci/gotest.sh builds one)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sh := lang.Find(lang.Detect(""), "sh")
	for _, tc := range []struct{ name, init, exe string }{
		{"small init", init, init},
		{"control: self re-exec", "", self},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.Children(os.Getpid())
			b, err := backend.NewCorral(backend.Config{Pool: 2, Reuse: true, Run: runLimits, Compile: compileLimits,
				CgroupParent: testutil.CgroupParent(), Init: tc.init})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			awaitReady(t, b)
			inits := 0
			for _, pid := range testutil.Children(os.Getpid()) {
				if slices.Contains(before, pid) {
					continue
				}
				if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == tc.exe {
					inits++
				}
			}
			if inits == 0 {
				t.Errorf("no pooled init runs %s", tc.exe)
			}
			o, err := b.Run(context.Background(), &job.Job{Language: sh, Files: map[string][]byte{"main.sh": []byte("echo small")}, Run: runLimits})
			if err != nil || o.Run == nil || string(o.Run.Stdout) != "small\n" {
				t.Errorf("a job: %+v, %v", o, err)
			}
		})
	}
}

// awaitReady waits up to 2 minutes for b's pools to fill.
func awaitReady(t *testing.T, b job.Backend) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !b.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready after 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
