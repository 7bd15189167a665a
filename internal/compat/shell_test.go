package compat

import (
	"testing"

	"github.com/corral-dev/corral/sandbox"
)

// TestShell is the control of the package: a shell runs and its output
// and exit code come back, so a real program's failure below is its own.
func TestShell(t *testing.T) {
	o := run(t, sandbox.Options{}, sandbox.Command("sh", "-c", "echo ok; exit 3"))
	if o.stdout != "ok\n" || o.exit != 3 {
		t.Fatalf("sh: stdout %q, exit %d (stderr %q); want \"ok\\n\", 3", o.stdout, o.exit, o.stderr)
	}
}
