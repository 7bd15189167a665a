package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
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

// RequireProgram returns the path of the host program name (looked up in
// PATH, then in /usr/bin and /usr/local/go/bin), for a test that runs a real
// program in a sandbox. Where it is missing, the test fails on CI's host
// lanes, whose set-up (.ci/deps.sh) installs it, and skips elsewhere; in
// the VM lane (CORRAL_VM set), whose busybox userland has none of them, it
// skips. Either way it says why.
func RequireProgram(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/go/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	switch {
	case os.Getenv("CORRAL_VM") != "":
		t.Skipf("%s is not installed in the VM lane (busybox userland); the host lanes run this test", name)
	case os.Getenv("CI") != "":
		t.Fatalf("%s is not installed, and CI must run this test: .ci/deps.sh installs it (make deps)", name)
	}
	t.Skipf("%s is not installed here; `make deps` installs it", name)
	return ""
}
