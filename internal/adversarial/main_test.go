package adversarial

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// The figures the suite prints at the end.
var (
	escapesTried, escapesHeld atomic.Int64
	faultsRun, faultLeaks     atomic.Int64
	soakRuns, soakFailures    atomic.Int64
)

// TestMain makes the test binary its own sandbox init and its own victim
// (CORRAL_ATTACK names the attempt to make inside a sandbox), wraps the
// suite in a leak check and prints the figures.
func TestMain(m *testing.M) {
	sandbox.Main()
	if a := os.Getenv("CORRAL_ATTACK"); a != "" {
		os.Exit(attack(a, os.Args[1:]))
	}
	before := testutil.Take()
	code := m.Run()
	leaks := testutil.Leaks(before)
	if len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "LEAK CHECK FAILED:\n  "+strings.Join(leaks, "\n  "))
		code = 1
	}
	fmt.Printf("escapes tried %d, held %d; faults %d, leaks %d; soak runs %d, failures %d\n",
		escapesTried.Load(), escapesHeld.Load(), faultsRun.Load(), faultLeaks.Load()+int64(len(leaks)),
		soakRuns.Load(), soakFailures.Load())
	os.Exit(code)
}

// requireSandbox fails on CI, and skips elsewhere, when sandboxes cannot run here.
func requireSandbox(t testing.TB) {
	t.Helper()
	testutil.RequireSandbox(t, sandbox.Check().Err())
}

// attacks are the programs the test binary runs when CORRAL_ATTACK names
// them, inside a sandbox (escape attempts) or outside (hosts to kill).
// Each test file registers its own in an init function. Each returns the
// process's exit code and prints its findings on stdout.
var attacks = map[string]func(args []string) int{}

func attack(name string, args []string) int {
	f, ok := attacks[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown attack", name)
		return 2
	}
	return f(args)
}
