package web_test

import (
	"os"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// TestMain hands the re-executed test binary to the sandbox's init (the
// real-server test runs Corral sandboxes in-process) and checks that
// nothing leaked: sandboxes, cgroups, the browser's processes, fds.
func TestMain(m *testing.M) {
	sandbox.Main()
	os.Exit(testutil.RunChecked(m))
}
