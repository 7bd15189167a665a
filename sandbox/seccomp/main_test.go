package seccomp_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// TestMain lets the example run sandboxes: the test binary is the
// sandbox's init too.
func TestMain(m *testing.M) {
	sandbox.Main()
	before := testutil.Take()
	code := m.Run()
	if leaks := testutil.Leaks(before); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "LEAK CHECK FAILED:\n  "+strings.Join(leaks, "\n  "))
		code = 1
	}
	os.Exit(code)
}
