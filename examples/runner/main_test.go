package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

func TestMain(m *testing.M) {
	// The test binary is the runner too: with RUNNER_MAIN set it runs main.
	if os.Getenv("RUNNER_MAIN") != "" {
		main()
		os.Exit(0)
	}
	sandbox.Main()
	os.Exit(m.Run())
}

// TestRunner feeds the runner programs that leave things behind, overrun
// their limit and fail, and checks each result: the first runs warm, and
// the one after it finds /tmp clean whichever sandbox it got.
func TestRunner(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe, "-time", "500ms")
	c.Env = append(os.Environ(), "RUNNER_MAIN=1")
	c.Stdin = strings.NewReader("echo hi; touch /tmp/left\nls /tmp; echo clean\nsleep 5\nexit 3\n")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		t.Fatalf("runner: %v\n%s", err, errb.String())
	}
	var rs []result
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r result
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4: %+v", len(rs), rs)
	}
	checks := []struct {
		ok   bool
		what string
	}{
		{rs[0].Stdout == "hi\n" && rs[0].ExitCode == 0 && rs[0].Warm, "first program"},
		{rs[1].Stdout == "clean\n" && rs[1].ExitCode == 0, "second program sees a clean /tmp"},
		{rs[2].Limit == sandbox.LimitTime && rs[2].Signal == "SIGKILL", "sleep past the time limit"},
		{rs[3].ExitCode == 3 && rs[3].Error == "", "exit 3 after a killed run"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %+v", c.what, rs)
		}
	}
}
