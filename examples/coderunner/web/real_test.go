package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/backend"
	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"github.com/corral-dev/corral/examples/coderunner/service"
	"github.com/corral-dev/corral/examples/coderunner/web"
	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// startServer starts the code runner as `go run ./examples/coderunner`
// does, with its default limits and the Corral backend, on a loopback
// port; t's cleanup stops it and closes every sandbox.
func startServer(t *testing.T) string {
	t.Helper()
	testutil.RequireSandbox(t, sandbox.Check().Err())
	// The defaults and maxima of main.go's flags; no seeded Go cache (the
	// test runs no Go).
	maxima := job.Limits{WallTime: 10 * time.Second, CPUTime: 10 * time.Second, Memory: 512 << 20, Pids: 128, Output: 1 << 20}
	defaults := job.Limits{WallTime: 5 * time.Second, CPUTime: 2 * time.Second, Memory: 128 << 20, Pids: 32, Output: 64 << 10}
	compile := job.Limits{WallTime: 120 * time.Second, CPUTime: 120 * time.Second, Memory: 768 << 20, Pids: 128}
	b, err := backend.NewCorral(backend.Config{Pool: 2, Reuse: true, Run: defaults, Compile: compile, CgroupParent: testutil.CgroupParent()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.New(service.Config{
		Backend: b, Languages: lang.Detect(""), Defaults: defaults, Max: maxima, Compile: compile,
		MaxSource: 256 << 10, Concurrency: 2, Queue: 8, Web: web.Handler(),
	})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := b.Close(); err != nil {
			t.Errorf("closing the backend: %v", err)
		}
	})
	return hs.URL
}

// factsRE is a run's facts line; the numbers are checked as numbers.
var factsRE = regexp.MustCompile(`^Run: (.+), (\d+(?:\.\d+)?) (ms|s) wall, (\d+(?:\.\d+)?) (ms|s) CPU, (?:(\d+\.\d) MB peak memory|peak memory unknown)$`)

// runFacts parses what the page says of the run step: its exit text,
// wall and CPU time in ms, and peak memory in MB (0: unknown).
func runFacts(t *testing.T, facts string) (exit string, wallMS, cpuMS, peakMB float64) {
	t.Helper()
	m := factsRE.FindStringSubmatch(facts)
	if m == nil {
		t.Fatalf("facts %q do not read as %s", facts, factsRE)
	}
	num := func(s, unit string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("facts %q: %v", facts, err)
		}
		if unit == "s" {
			v *= 1000
		}
		return v
	}
	wallMS, cpuMS = num(m[2], m[3]), num(m[4], m[5])
	if m[6] != "" {
		peakMB = num(m[6], "")
	}
	return m[1], wallMS, cpuMS, peakMB
}

// TestPlayground runs programs through the playground page in chromium
// against the real server: a hello world, a program that fails, a compile
// error, a request the server rejects, and runs that hit each limit.
func TestPlayground(t *testing.T) {
	ctx := newBrowser(t) // first: where chromium is missing, skip before booting sandboxes
	url := startServer(t)
	openPage(t, ctx, url)

	t.Run("hello", func(t *testing.T) {
		// The output is computed in the sandbox from stdin: the page cannot
		// show it without running the program (the control: the text is in
		// neither the source nor the input).
		src := "import sys\nname = sys.stdin.read().strip()\nprint('Hello,', name.upper(), 6 * 7)\n"
		for _, in := range []string{"corral", "playground"} {
			want := "Hello, " + strings.ToUpper(in) + " 42\n"
			if strings.Contains(src+in, strings.TrimSpace(want)) {
				t.Fatalf("the expected output %q is in the program or its input", want)
			}
			got := runProgram(t, ctx, program{language: "python3", source: src, stdin: in + "\n"})
			if got.Status != "Finished: exit code 0" || got.Kind != "ok" {
				t.Errorf("status %q (%s)", got.Status, got.Kind)
			}
			if str(got.Stdout) != str(&want) || got.Stderr != nil || got.Compile != nil {
				t.Errorf("stdout %s, stderr %s, compile %s; want stdout %q alone", str(got.Stdout), str(got.Stderr), str(got.Compile), want)
			}
			exit, wall, cpu, peak := runFacts(t, got.Facts)
			if exit != "exit code 0" || wall <= 0 || cpu <= 0 || wall > 5000 || peak < 0 || peak > 128 {
				t.Errorf("facts %q: %s, wall %v ms, CPU %v ms, peak %v MB", got.Facts, exit, wall, cpu, peak)
			}
		}
	})

	t.Run("sh", func(t *testing.T) {
		got := runProgram(t, ctx, program{language: "sh", source: "echo \"sum: $((6 * 7))\"\n", ctrlEnter: true})
		if want := "sum: 42\n"; got.Status != "Finished: exit code 0" || str(got.Stdout) != str(&want) {
			t.Errorf("status %q, stdout %s; want %q", got.Status, str(got.Stdout), want)
		}
	})

	t.Run("nonzero", func(t *testing.T) {
		got := runProgram(t, ctx, program{language: "python3", source: "import sys\nsys.exit('bad input')\n"})
		if want := "bad input\n"; got.Status != "Program failed: exit code 1" || got.Kind != "error" || str(got.Stderr) != str(&want) || got.Stdout != nil {
			t.Errorf("status %q (%s), stdout %s, stderr %s; want exit code 1 and stderr %q", got.Status, got.Kind, str(got.Stdout), str(got.Stderr), want)
		}
	})

	t.Run("compile error", func(t *testing.T) {
		testutil.RequireProgram(t, "gcc")
		got := runProgram(t, ctx, program{language: "c", source: "int main(void) { return undefined_name; }\n"})
		if got.Status != "Compile error: exit code 1" || got.Kind != "error" {
			t.Errorf("status %q (%s)", got.Status, got.Kind)
		}
		if got.Compile == nil || !strings.Contains(*got.Compile, "error: 'undefined_name' undeclared") && !strings.Contains(*got.Compile, "error: \u2018undefined_name\u2019 undeclared") {
			t.Errorf("compile output %s: no error naming undefined_name", str(got.Compile))
		}
		if got.Stdout != nil || got.Stderr != nil || !strings.HasPrefix(got.Facts, "Compile: exit code 1, ") || strings.Contains(got.Facts, "Run:") {
			t.Errorf("stdout %s, stderr %s, facts %q: a run step after a failed compile", str(got.Stdout), str(got.Stderr), got.Facts)
		}
	})

	t.Run("rejected", func(t *testing.T) {
		// The page shows the server's own 400 message: ask the API the same.
		body := `{"language": "python3", "source": "print(1)", "limits": {"memory_mb": 4096}}`
		resp, err := http.Post(url+"/run", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error, Field string }
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 400 || e.Field != "limits.memory_mb" || e.Error == "" {
			t.Fatalf("the API answered %d %+v (%v); want 400 naming limits.memory_mb", resp.StatusCode, e, err)
		}
		got := runProgram(t, ctx, program{language: "python3", source: "print(1)", limits: map[string]string{"memory_mb": "4096"}})
		if want := "Request rejected: " + e.Error; got.Status != want || got.Kind != "error" {
			t.Errorf("status %q (%s), want %q", got.Status, got.Kind, want)
		}
		if got.Stdout != nil || got.Facts != "" {
			t.Errorf("stdout %s, facts %q after a rejected request", str(got.Stdout), got.Facts)
		}
	})

	// Each limit ends its run, and the page says which, with its value.
	killed := func(t *testing.T, got shown) (wall, cpu, peak float64) {
		t.Helper()
		exit, wall, cpu, peak := runFacts(t, got.Facts)
		if !strings.HasPrefix(exit, "ended by signal") {
			t.Errorf("facts %q: not killed", got.Facts)
		}
		if got.Stdout != nil {
			t.Errorf("stdout %s: the program went on past its limit", str(got.Stdout))
		}
		return wall, cpu, peak
	}
	limits := []struct {
		name, language, source string
		limits                 map[string]string
		status                 string
		check                  func(t *testing.T, got shown)
	}{
		{"wall time", "python3", "import time\ntime.sleep(60)\nprint('woke')\n", map[string]string{"wall_ms": "1000"}, "Time limit exceeded (1000 ms)",
			func(t *testing.T, got shown) {
				if wall, _, _ := killed(t, got); wall < 1000 || wall > 10000 {
					t.Errorf("wall time %v ms, want 1000 ms or a little more", wall)
				}
			}},
		{"cpu time", "python3", "while True:\n\tpass\n", map[string]string{"cpu_ms": "500", "wall_ms": "10000"}, "CPU time limit exceeded (500 ms)",
			func(t *testing.T, got shown) {
				if _, cpu, _ := killed(t, got); cpu < 500 || cpu > 5000 {
					t.Errorf("CPU time %v ms, want 500 ms or a little more", cpu)
				}
			}},
		{"memory", "python3", "b = bytearray(400 << 20)\nprint('allocated')\n", map[string]string{"memory_mb": "64"}, "Memory limit exceeded (64 MB)",
			func(t *testing.T, got shown) {
				if _, _, peak := killed(t, got); peak > 64.1 {
					t.Errorf("peak memory %v MB over the 64 MB limit", peak)
				}
			}},
		{"processes", "sh", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait\n", map[string]string{"pids": "4"}, "Process limit exceeded (4 processes)",
			func(t *testing.T, got shown) {
				if got.Stderr == nil || !strings.Contains(*got.Stderr, "fork") {
					t.Errorf("stderr %s: no failed fork", str(got.Stderr))
				}
			}},
		{"output", "python3", "print('x' * 200000)\n", map[string]string{"output_kb": "1"}, "Output limit exceeded (1 KB)",
			func(t *testing.T, got shown) {
				const note = "\n[\u2026 truncated at the output limit]"
				if got.Stdout == nil || !strings.HasSuffix(*got.Stdout, note) || strings.Trim(strings.TrimSuffix(*got.Stdout, note), "x") != "" ||
					len(*got.Stdout)-len(note) > 1024 || len(*got.Stdout)-len(note) == 0 {
					t.Errorf("stdout %.80s... (%d bytes): want at most 1024 x's and the truncation note", str(got.Stdout), len(str(got.Stdout)))
				}
			}},
	}
	for _, tt := range limits {
		t.Run(tt.name, func(t *testing.T) {
			// Typed: the editor turns the Tab into spaces (runProgram checks).
			got := runProgram(t, ctx, program{language: tt.language, source: tt.source, limits: tt.limits, typed: tt.name == "cpu time"})
			if got.Status != tt.status || got.Kind != "limit" {
				t.Errorf("status %q (%s), want %q (limit)", got.Status, got.Kind, tt.status)
			}
			tt.check(t, got)
		})
	}
}
