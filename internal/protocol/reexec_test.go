package protocol

import (
	"strings"
	"syscall"
	"testing"
)

func TestMarker(t *testing.T) {
	m := Marker(3, 4)
	value, ok := strings.CutPrefix(m, EnvMarker+"=")
	if !ok {
		t.Fatalf("Marker(3, 4) = %q, not %s=...", m, EnvMarker)
	}
	conn, files, err := ParseMarker(value)
	if err != nil || conn != 3 || files != 4 {
		t.Errorf("ParseMarker(%q) = %d, %d, %v; want 3, 4", value, conn, files, err)
	}
	for _, bad := range []string{"", "3", "3,", ",4", "3,3", "2,4", "3,-1", "a,b", "3,4,5", "1e1,4"} {
		if conn, files, err := ParseMarker(bad); err == nil {
			t.Errorf("ParseMarker(%q) = %d, %d; want an error", bad, conn, files)
		}
	}
}

// TestInitAttr: the init and the probe get the same namespaces but for the
// network one, which the sandbox's Network option decides.
func TestInitAttr(t *testing.T) {
	with, without := InitAttr(true), InitAttr(false)
	if with.Cloneflags&syscall.CLONE_NEWNET == 0 || without.Cloneflags&syscall.CLONE_NEWNET != 0 {
		t.Errorf("CLONE_NEWNET: %#x with, %#x without", with.Cloneflags, without.Cloneflags)
	}
	if with.Cloneflags&^syscall.CLONE_NEWNET != without.Cloneflags {
		t.Errorf("the flags differ beyond CLONE_NEWNET: %#x, %#x", with.Cloneflags, without.Cloneflags)
	}
	if ProbeCommand().SysProcAttr.Cloneflags != with.Cloneflags {
		t.Errorf("the probe's flags %#x are not the init's %#x", ProbeCommand().SysProcAttr.Cloneflags, with.Cloneflags)
	}
}
