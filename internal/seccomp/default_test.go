package seccomp

import (
	"slices"
	"testing"
)

// TestDefaultTracing: ptrace and process_vm_readv/writev are allowed by
// Docker's layer alone, which includes them only from Linux 4.8 (where
// seccomp checks a call again after a tracer changed it); Corral's layer
// neither allows them (that would skip the 4.8 gate) nor refuses them. The
// calls Docker keeps for CAP_SYS_PTRACE stay refused.
func TestDefaultTracing(t *testing.T) {
	layers, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	docker, ours := layers[0], layers[1]
	names := func(rs []Rule, kind Kind) []string {
		var n []string
		for _, r := range rs {
			if r.Action.Kind == kind {
				n = append(n, r.Names...)
			}
		}
		return n
	}
	for _, name := range []string{"ptrace", "process_vm_readv", "process_vm_writev"} {
		if !slices.Contains(names(docker, Allow), name) {
			t.Errorf("Docker's layer does not allow %s on this kernel (>= 4.8)", name)
		}
		for _, r := range ours {
			if slices.Contains(r.Names, name) {
				t.Errorf("Corral's layer has a rule for %s (%v): Docker's layer decides, from Linux 4.8", name, r.Action)
			}
		}
	}
	for _, name := range []string{"kcmp", "pidfd_getfd", "process_madvise"} {
		if slices.Contains(names(docker, Allow), name) || !slices.Contains(names(ours, Errno), name) {
			t.Errorf("%s: want it refused (Docker allows it only with CAP_SYS_PTRACE)", name)
		}
	}
}
