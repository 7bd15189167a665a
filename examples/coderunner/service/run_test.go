package service_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/lang"
)

// hellos are a hello world per language, reading one line of stdin.
var hellos = map[string]string{
	"sh":         "read name; echo \"hello, $name\"",
	"python3":    "print('hello, ' + input())",
	"javascript": "const n = require('fs').readFileSync(0, 'utf8').trim(); console.log('hello, ' + n)",
	"c":          "#include <stdio.h>\nint main(void){char n[64]; if(scanf(\"%63s\", n)!=1) return 1; printf(\"hello, %s\\n\", n); return 0;}\n",
	"cpp":        "#include <iostream>\n#include <string>\nint main(){std::string n; std::cin >> n; std::cout << \"hello, \" << n << std::endl;}\n",
	"go":         "package main\n\nimport \"fmt\"\n\nfunc main() { var n string; fmt.Scan(&n); fmt.Println(\"hello, \" + n) }\n",
}

// TestHello runs each language's hello world, with stdin, end to end.
func TestHello(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	for _, l := range lang.All() {
		t.Run(l.Name, func(t *testing.T) {
			requireLanguage(t, langs, l.Name)
			if l.Name == "go" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				if err := lang.SeedGoCache(ctx, goCache); err != nil {
					t.Logf("go cache not seeded (the build will be slow): %v", err)
				}
			}
			a := post(t, ts, req{Language: l.Name, Source: src(hellos[l.Name]), Stdin: "corral\n"})
			if a.Code != 200 || a.Outcome != "ok" || a.Run == nil {
				t.Fatalf("%d %s", a.Code, a.Body)
			}
			if a.Run.Stdout != "hello, corral\n" {
				t.Errorf("stdout %q, want %q; %s", a.Run.Stdout, "hello, corral\n", a.Body)
			}
			if (a.Compile != nil) != (l.Compile != nil) {
				t.Errorf("compile step %v, want one: %v", a.Compile, l.Compile != nil)
			}
			if a.Run.WallMS <= 0 || a.Run.MemoryPeakBytes <= 0 {
				t.Errorf("wall_ms %v, memory_peak_bytes %d: want both > 0", a.Run.WallMS, a.Run.MemoryPeakBytes)
			}
		})
	}
}

// TestFiles runs a program of several files, one in a subdirectory.
func TestFiles(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	requireLanguage(t, langs, "python3")
	a := post(t, ts, req{Language: "python3", Files: map[string]string{
		"main.py":         "from lib import util\nprint(util.x)",
		"lib/__init__.py": "",
		"lib/util.py":     "x = 42",
	}})
	if a.Code != 200 || a.Outcome != "ok" || a.Run.Stdout != "42\n" {
		t.Fatalf("%d %s", a.Code, a.Body)
	}
}

// TestCompileError: a C program that does not compile gives the compiler's
// message and no run step; a control compiles.
func TestCompileError(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	requireLanguage(t, langs, "c")
	a := post(t, ts, req{Language: "c", Source: src("int main(void) { return x; }\n")})
	if a.Code != 200 || a.Outcome != "compile_error" || a.Compile == nil || a.Run != nil {
		t.Fatalf("%d %s", a.Code, a.Body)
	}
	if a.Compile.ExitCode == 0 || !strings.Contains(a.Compile.Stderr, "undeclared") {
		t.Errorf("compile step %+v: want a failure saying x is undeclared", a.Compile)
	}
	a = post(t, ts, req{Language: "c", Source: src("int x = 3; int main(void) { return x; }\n")})
	if a.Code != 200 || a.Outcome != "nonzero" || a.Run == nil || a.Run.ExitCode != 3 {
		t.Fatalf("control: %d %s", a.Code, a.Body)
	}
}

// TestRunSeesOnlyTheProgram: the run step of a compiled language finds
// the program and nothing else of the compile step: no sources, no
// compiler's temporaries.
func TestRunSeesOnlyTheProgram(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	requireLanguage(t, langs, "c")
	prog := `#include <stdio.h>
#include <stdlib.h>
int main(void) { fflush(stdout); return system("cd /work && find . /tmp /dev/shm -mindepth 1 | sort"); }
`
	a := post(t, ts, req{Language: "c", Files: map[string]string{"main.c": prog, "secret.h": "#define SECRET 1\n"}})
	if a.Code != 200 || a.Outcome != "ok" {
		t.Fatalf("%d %s", a.Code, a.Body)
	}
	if got, want := a.Run.Stdout, "./"+"out\n./out/"+lang.Program+"\n"; got != want {
		t.Errorf("the run step sees:\n%s\nwant only:\n%s", got, want)
	}
}

// bomb is a program that a limit must end.
type bomb struct {
	name, language, source string
	limits                 map[string]int64
	limit                  string // the limit that must end it
}

// TestBombs runs bombs, each of which must end with its limit, and the
// same languages' well-behaved controls, which must not.
func TestBombs(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	bombs := []bomb{
		{"memory", "python3", "x = bytearray(1 << 30)\nprint(len(x))", map[string]int64{"memory_mb": 64}, "memory"},
		{"cpu", "python3", "while True:\n    pass", map[string]int64{"cpu_ms": 300, "wall_ms": 20000}, "cpu_time"},
		{"output", "sh", "yes flood", map[string]int64{"output_kb": 4}, "output"},
		{"wall", "sh", "sleep 30", map[string]int64{"wall_ms": 300}, "wall_time"},
		{"fork", "sh", "i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done; wait", map[string]int64{"pids": 8, "wall_ms": 20000}, "pids"},
		{"memory-c", "c", "#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(1<<20); if(!p) return 1; memset(p,1,1<<20);}}", map[string]int64{"memory_mb": 64}, "memory"},
		{"cpu-c", "c", "int main(void){volatile unsigned long i=0; for(;;) i++;}", map[string]int64{"cpu_ms": 300, "wall_ms": 20000}, "cpu_time"},
		{"output-c", "c", "#include <stdio.h>\nint main(void){for(;;) puts(\"flood\");}", map[string]int64{"output_kb": 4}, "output"},
		{"fork-c", "c", "#include <unistd.h>\nint main(void){for(int i=0;i<100;i++) if(fork()==0){pause();} pause();}", map[string]int64{"pids": 8, "wall_ms": 20000}, "pids"},
		{"wall-c", "c", "#include <unistd.h>\nint main(void){sleep(30);}", map[string]int64{"wall_ms": 300}, "wall_time"},
	}
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			requireLanguage(t, langs, b.language)
			a := post(t, ts, req{Language: b.language, Source: src(b.source), Limits: b.limits})
			if a.Code != 200 || a.Run == nil {
				t.Fatalf("%d %s", a.Code, a.Body)
			}
			if a.Outcome != "limit" || a.Run.Limit != b.limit {
				t.Fatalf("outcome %q, limit %q; want limit %q: %s", a.Outcome, a.Run.Limit, b.limit, a.Body)
			}
			switch b.limit {
			case "output":
				if !a.Run.StdoutTruncated || int64(len(a.Run.Stdout)) != b.limits["output_kb"]<<10 {
					t.Errorf("stdout: %d bytes, truncated %v; want %d, truncated", len(a.Run.Stdout), a.Run.StdoutTruncated, b.limits["output_kb"]<<10)
				}
			case "cpu_time":
				if a.Run.CPUMS < 300 {
					t.Errorf("cpu_ms %v: want at least the limit, 300", a.Run.CPUMS)
				}
			}
		})
	}
	// Controls: the same limits let a well-behaved program through, so
	// the limits above are what ended the bombs.
	controls := []bomb{
		{"memory", "python3", "x = bytearray(8 << 20)\nprint(len(x))", map[string]int64{"memory_mb": 64}, ""},
		{"output", "sh", "yes flood | head -c 100", map[string]int64{"output_kb": 4}, ""},
		{"wall", "sh", "sleep 0.05", map[string]int64{"wall_ms": 5000}, ""},
		{"fork", "sh", "sleep 0.1 & sleep 0.1 & wait", map[string]int64{"pids": 8}, ""},
		{"memory-c", "c", "#include <stdlib.h>\n#include <string.h>\nint main(void){char*p=malloc(8<<20); memset(p,1,8<<20); return p[100]-1;}", map[string]int64{"memory_mb": 64}, ""},
	}
	for _, b := range controls {
		t.Run("control-"+b.name, func(t *testing.T) {
			requireLanguage(t, langs, b.language)
			a := post(t, ts, req{Language: b.language, Source: src(b.source), Limits: b.limits})
			if a.Code != 200 || a.Outcome != "ok" {
				t.Fatalf("%d %s", a.Code, a.Body)
			}
		})
	}
}

// TestConcurrentIsolation runs jobs at once, each leaving a file of its
// own in /work and /tmp and then listing them: none sees another's.
func TestConcurrentIsolation(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	requireLanguage(t, langs, "sh")
	var wg sync.WaitGroup
	const n = 6
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			language, source := "sh", fmt.Sprintf("echo %d > /tmp/job-%d; sleep 0.3; ls /tmp /work | tr '\\n' ' '", i, i)
			want := fmt.Sprintf("/tmp: job-%d  /work: main.sh ", i)
			if i%2 == 1 && lang.Find(langs, "c") != nil { // Boxes too
				language = "c"
				source = fmt.Sprintf("#include <stdlib.h>\nint main(void){return system(\"echo %d > /tmp/job-%d; sleep 0.3; ls /tmp /work | tr '\\\\n' ' '\");}", i, i)
				want = fmt.Sprintf("/tmp: job-%d  /work: out ", i)
			}
			a := post(t, ts, req{Language: language, Source: src(source)})
			if a.Code != 200 || a.Outcome != "ok" {
				t.Errorf("job %d: %d %s", i, a.Code, a.Body)
				return
			}
			if a.Run.Stdout != want {
				t.Errorf("job %d sees %q, want %q", i, a.Run.Stdout, want)
			}
		}()
	}
	wg.Wait()
}

// TestClientGone: a client that hangs up while its job runs gets the job
// killed, sandbox and all, for a Run and for a Box: its program (a sleep
// of 15 s under a wall limit of 20 s, found by a unique argument in
// /proc) is gone within 3 s of the hang-up. The control, the same job of
// a client that stays, is still there at that time.
func TestClientGone(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	for _, c := range []struct{ language, source string }{
		{"sh", "sleep %s"},
		{"c", "#include <unistd.h>\nint main(void){execl(\"/bin/sleep\", \"sleep\", \"%s\", (char*)0); return 1;}"},
	} {
		t.Run(c.language, func(t *testing.T) {
			requireLanguage(t, langs, c.language)
			start := func(marker string) (context.CancelFunc, chan error) {
				ctx, cancel := context.WithCancel(context.Background())
				body := fmt.Sprintf(`{"language":%q,"source":%q,"limits":{"wall_ms":20000}}`, c.language, fmt.Sprintf(c.source, marker))
				r, err := http.NewRequestWithContext(ctx, "POST", ts.URL+"/run", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				r.Header.Set("Content-Type", "application/json")
				errc := make(chan error, 1)
				go func() {
					resp, err := ts.Client().Do(r)
					if err == nil {
						resp.Body.Close()
					}
					errc <- err
				}()
				return cancel, errc
			}
			gone, stays := fmt.Sprintf("15.%06d1", os.Getpid()%1000000), fmt.Sprintf("15.%06d2", os.Getpid()%1000000)
			cancelGone, goneErr := start(gone)
			cancelStays, staysErr := start(stays)
			defer func() {
				cancelStays()
				<-staysErr
				waitFor(t, func() bool { return len(sleeping(stays)) == 0 }, "the control's sleep to be killed")
			}()
			defer cancelGone()
			waitFor(t, func() bool { return len(sleeping(gone)) > 0 && len(sleeping(stays)) > 0 }, "both jobs' sleeps to start")
			cancelGone()
			if err := <-goneErr; err == nil {
				t.Fatal("the request was answered; want it cut short")
			}
			deadline := time.Now().Add(3 * time.Second)
			for len(sleeping(gone)) > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if pids := sleeping(gone); len(pids) > 0 {
				t.Errorf("the hung-up client's job still runs 3 s after (pids %v)", pids)
			}
			if len(sleeping(stays)) == 0 {
				t.Errorf("the control's job is gone too: the sleep ended by itself, the test shows nothing")
			}
			// The metrics count it as canceled, not as the backend's error.
			waitMetric(t, ts, `coderunner_runs_total{language="`+c.language+`",outcome="canceled"} 1`)
			if m := get(t, ts, "/metrics", nil).body; strings.Contains(m, `outcome="error"`) {
				t.Errorf("a hang-up counted as an error:\n%s", m)
			}
		})
	}
}

// waitFor waits up to 60 s for cond.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sleeping lists the live sleep processes whose argument is arg.
func sleeping(arg string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.HasSuffix(string(b), "sleep\x00"+arg+"\x00") {
			if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && !strings.Contains(string(st[strings.LastIndexByte(string(st), ')')+1:]), " Z ") {
				pids = append(pids, e.Name())
			}
		}
	}
	return pids
}

// TestRunStepMemory: a compiled program's run step under a small memory
// limit (4 MiB, the Box's being the compile step's 768) passes when it
// takes little, and sleeps long enough for the watch to look; the
// control, the same program allocating 64 MiB, hits the limit.
func TestRunStepMemory(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	requireLanguage(t, langs, "c")
	prog := "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){size_t n = %d; char *p = malloc(n + 1); memset(p, 1, n + 1); usleep(300000); puts(\"ok\"); return p[n] - 1;}\n"
	a := post(t, ts, req{Language: "c", Source: src(fmt.Sprintf(prog, 64<<10)), Limits: map[string]int64{"memory_mb": 4}})
	if a.Code != 200 || a.Outcome != "ok" || a.Run.Stdout != "ok\n" {
		t.Errorf("a small program under memory_mb 4: %d %s", a.Code, a.Body)
	}
	a = post(t, ts, req{Language: "c", Source: src(fmt.Sprintf(prog, 64<<20)), Limits: map[string]int64{"memory_mb": 4}})
	if a.Code != 200 || a.Outcome != "limit" || a.Run.Limit != "memory" {
		t.Errorf("control, 64 MiB under memory_mb 4: %d %s; want limit memory", a.Code, a.Body)
	}
}

// TestOutputLimitAlways: a program that writes past its output cap and
// exits at once is reported as the output limit every time, however its
// exit and the kill the overflow sets off are ordered.
func TestOutputLimitAlways(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	for _, c := range []struct{ language, source string }{
		{"python3", "print('x'*1500)"},
		{"c", "#include <stdio.h>\n#include <string.h>\nint main(void){char b[1501]; memset(b, 'x', 1500); b[1500] = 0; puts(b); return 0;}\n"},
	} {
		t.Run(c.language, func(t *testing.T) {
			requireLanguage(t, langs, c.language)
			for i := range 20 {
				a := post(t, ts, req{Language: c.language, Source: src(c.source), Limits: map[string]int64{"output_kb": 1}})
				if a.Code != 200 || a.Run == nil || !a.Run.StdoutTruncated || len(a.Run.Stdout) != 1024 {
					t.Fatalf("run %d: %d %s", i, a.Code, a.Body)
				}
				if a.Outcome != "limit" || a.Run.Limit != "output" {
					t.Fatalf("run %d: outcome %q, limit %q; want limit output: %s", i, a.Outcome, a.Run.Limit, a.Body)
				}
			}
		})
	}
}
