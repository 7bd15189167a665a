package unpack

import (
	"os"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
)

// TestMain fails the run if the tests leave fds open (Apply closes its
// root and files on every path).
func TestMain(m *testing.M) { os.Exit(testutil.RunChecked(m)) }
