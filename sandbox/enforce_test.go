package sandbox

import (
	"syscall"
	"testing"
)

// TestAccountLimit: a host-enforced limit is reported only when the run
// ended by the kill it caused; a command that exited on its own as the
// limit was reached (a race at the deadline) is reported as it exited.
func TestAccountLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hit      string
		sig      syscall.Signal
		exit     int
		limit    string
		timedOut bool
	}{
		{"time-killed", LimitTime, syscall.SIGKILL, -1, LimitTime, true},
		{"time-exited-at-deadline", LimitTime, 0, 0, "", false},
		{"time-exited-nonzero-at-deadline", LimitTime, 0, 3, "", false},
		{"cpu-time-killed", LimitCPUTime, syscall.SIGKILL, -1, LimitCPUTime, false},
		{"output-killed", LimitOutput, syscall.SIGKILL, -1, LimitOutput, false},
		{"output-exited", LimitOutput, 0, 0, "", false},
		{"no-limit-killed", "", syscall.SIGKILL, -1, "", false},
		{"no-limit-exited", "", 0, 1, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Process{box: &booted{res: &resources{}}, limit: tc.hit}
			r := &Result{ExitCode: tc.exit, Signal: tc.sig}
			p.account(r)
			if r.Limit != tc.limit || r.TimedOut != tc.timedOut {
				t.Errorf("limit hit %q, run ended by %v/%d: Limit %q, TimedOut %v; want %q, %v",
					tc.hit, tc.sig, tc.exit, r.Limit, r.TimedOut, tc.limit, tc.timedOut)
			}
		})
	}
}
