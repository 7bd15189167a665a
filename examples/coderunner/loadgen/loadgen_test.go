package main

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
)

// TestLoadShort is the load test's short form, for CI: the server, started
// for the corral and bwrap backends, gets the mixed load (every language
// but go, whose cold cache would take a minute to seed; bombs of every
// kind) from 16 clients for 3 s. Every answer must be right, every bomb
// contained, the server healthy afterwards and no sandbox process left.
// It measures no speed.
func TestLoadShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the load test takes ~40 s")
	}
	for _, p := range []string{"bwrap", "python3", "gcc"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed, and CI must run this test: .ci/deps.sh installs it", p)
			}
			t.Skipf("%s is not installed here; `make deps` installs it", p)
		}
	}
	// The languages whose toolchain is here (the server offers no other).
	langs := []string{"sh", "python3", "c"}
	for _, l := range []struct{ name, tool string }{{"javascript", "node"}, {"cpp", "g++"}} {
		if _, err := exec.LookPath(l.tool); err == nil {
			langs = append(langs, l.name)
		} else {
			t.Logf("%s is not installed: no %s programs", l.tool, l.name)
		}
	}
	// The rootless lanes give sandboxes a delegated cgroup parent.
	c, err := parseFlags([]string{"-clients", "16", "-mixed-duration", "3s", "-warmup", "0s", "-mode", "mixed", "-drain",
		"-backends", "corral,bwrap", "-languages", strings.Join(langs, ","),
		"-server-args", "-cgroup-parent=" + testutil.CgroupParent()}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(programs(langs, "0")); c.clients < n {
		t.Fatalf("%d clients cannot send each of the %d programs first", c.clients, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	if c.bin, err = buildServer(ctx, tmp); err != nil {
		t.Fatal(err)
	}
	for _, b := range c.backends {
		t.Run(b.Name, func(t *testing.T) {
			r, err := runOne(ctx, c, tmp, "mixed", b)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			report(&out, c, "mixed", []*result{r})
			t.Log(out.String())
			if !r.passed() {
				t.Fatal("the load run failed: see the report")
			}
			for name, x := range r.ByProgram {
				if x.Right == 0 {
					t.Errorf("%s (%s): no right answer (sent %d)", name, x.Kind, x.Sent)
				}
			}
		})
	}
}

// TestChecks shows the answers' checks can fail: each is given a right
// answer and a wrong one.
func TestChecks(t *testing.T) {
	ok := func(stdout string) *runResponse {
		return &runResponse{Outcome: "ok", Run: &step{Stdout: stdout}}
	}
	limit := func(l string) *runResponse {
		return &runResponse{Outcome: "limit", Run: &step{Limit: l, ExitCode: -1, Signal: "killed"}}
	}
	fork := programByName(t, "fork bomb").make
	output := programByName(t, "output bomb").make
	for _, tc := range []struct {
		name  string
		check func(*runResponse) string
		right *runResponse
		wrong []*runResponse
	}{
		{"stdout", wantStdout("4\n"), ok("4\n"), []*runResponse{ok("5\n"), ok("4"), {Outcome: "nonzero", Run: &step{Stdout: "4\n", ExitCode: 1}}}},
		{"limit", wantLimit("memory"), limit("memory"), []*runResponse{limit("cpu_time"), ok(""), {Outcome: "limit"}}},
		{"fork", check(fork), ok("forks failed after 15\n"), []*runResponse{ok("forks failed after 16\n"), ok(""), limit("wall_time")}},
		{"output", check(output), &runResponse{Outcome: "limit", Run: &step{Limit: "output", StdoutTruncated: true, Stdout: strings.Repeat("x", 16<<10)}},
			[]*runResponse{limit("output"), {Outcome: "limit", Run: &step{Limit: "output", Stdout: strings.Repeat("x", 17<<10), StdoutTruncated: true}}}},
	} {
		if why := tc.check(tc.right); why != "" {
			t.Errorf("%s: a right answer failed: %s", tc.name, why)
		}
		for i, w := range tc.wrong {
			if tc.check(w) == "" {
				t.Errorf("%s: wrong answer %d passed: %+v", tc.name, i, w)
			}
		}
	}
	// A fork bomb ended by the pids limit is contained too.
	if why := check(fork)(limit("pids")); why != "" {
		t.Errorf("fork bomb at the pids limit: %s", why)
	}
}

func check(make func(*rand.Rand) (runRequest, func(*runResponse) string)) func(*runResponse) string {
	_, c := make(rand.New(rand.NewPCG(1, 2)))
	return c
}

func programByName(t *testing.T, name string) program {
	for _, p := range programs([]string{"sh", "python3"}, "0") {
		if p.name == name {
			return p
		}
	}
	t.Fatalf("no program %q", name)
	return program{}
}
