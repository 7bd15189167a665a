package pid1

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/corral-dev/corral/internal/protocol"
)

// envProbeChild makes the test binary, re-executed by TestProbeGuard, call
// Main with the overlay probe's variable set and report what it did.
const envProbeChild = "CORRAL_TEST_PROBE_CHILD"

// TestProbeGuard: Main runs the overlay probe, which makes the mounts
// private and mounts a tmpfs and an overlay, only as pid 1 of a new pid
// namespace (the probe protocol.OverlayProbeCommand starts). The same
// process not pid 1 goes on as a plain program and changes no mount. The
// children run in mount (and user) namespaces of their own, so that a
// broken guard would change only theirs.
func TestProbeGuard(t *testing.T) {
	if os.Getenv(envProbeChild) != "" {
		probeChild()
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		newPID bool
		want   string // isInit, and whether the mounts changed
	}{
		{"not pid 1", false, "isInit=false mounts changed=false"},
		{"pid 1 (control)", true, "isInit=true mounts changed=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := exec.Command(exe, "-test.run=^TestProbeGuard$", "-test.count=1")
			c.Env = []string{envProbeChild + "=1", protocol.EnvProbe + "=" + protocol.ProbeOverlay}
			c.SysProcAttr = protocol.InitAttr(false)
			if !tc.newPID {
				c.SysProcAttr.Cloneflags &^= syscall.CLONE_NEWPID
			}
			var stdout, stderr bytes.Buffer
			c.Stdout, c.Stderr = &stdout, &stderr
			if err := c.Run(); err != nil {
				if strings.Contains(err.Error(), "operation not permitted") {
					skipOrFail(t, fmt.Sprintf("cannot make user namespaces here: %v", err))
				}
				t.Fatalf("child: %v\nstdout %q\nstderr %q", err, stdout.String(), stderr.String())
			}
			_, got, ok := strings.Cut(stdout.String(), "RESULT ")
			got, _, _ = strings.Cut(got, "\n")
			if !ok || !strings.HasPrefix(got, tc.want) {
				t.Errorf("child reported %q, want %q (stderr %q)", got, tc.want, stderr.String())
			}
			t.Logf("child: %s", got)
		})
	}
}

// probeChild is TestProbeGuard's child: it calls Main with the overlay
// probe's variable set and prints whether Main took over and whether its
// mount table changed, then exits.
func probeChild() {
	before, _ := os.ReadFile("/proc/self/mountinfo")
	code, isInit := Main()
	after, _ := os.ReadFile("/proc/self/mountinfo")
	fmt.Printf("RESULT isInit=%v mounts changed=%v pid=%d code=%s\n", isInit, !bytes.Equal(before, after),
		os.Getpid(), strconv.Itoa(code))
	os.Exit(0)
}

// skipOrFail skips a test that this host cannot run, except on CI.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
