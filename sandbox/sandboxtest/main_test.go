package sandboxtest_test

import (
	"os"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// TestMain makes the test binary its own sandbox init (and, inside the
// sandbox, the helper subprocess) and wraps the suite in a leak check.
func TestMain(m *testing.M) {
	sandbox.Main()
	os.Exit(testutil.RunChecked(m))
}
