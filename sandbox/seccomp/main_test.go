package seccomp_test

import (
	"os"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// TestMain lets the example run sandboxes: the test binary is the
// sandbox's init too.
func TestMain(m *testing.M) {
	sandbox.Main()
	os.Exit(testutil.RunChecked(m))
}
