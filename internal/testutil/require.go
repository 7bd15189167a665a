package testutil

import (
	"os"
	"testing"
)

// RequireSandbox fails (on CI) or skips (elsewhere) a test that needs to
// create sandboxes when checkErr says this host cannot; either way it says
// why. Pass sandbox.Check().Err().
func RequireSandbox(t testing.TB, checkErr error) {
	t.Helper()
	if checkErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("this host cannot run sandboxes, and CI must: %v", checkErr)
	}
	t.Skipf("this host cannot run sandboxes: %v", checkErr)
}

// Rootless reports whether the tests run without root.
func Rootless() bool { return os.Geteuid() != 0 }
