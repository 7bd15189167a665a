package backend

import (
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/sandbox"
)

// TestOverLimit: a step is held to what the Box grew by since it started,
// not to what the Box holds in all.
func TestOverLimit(t *testing.T) {
	l := job.Limits{CPUTime: time.Second, Memory: 4 << 20, Pids: 4}
	base := sandbox.Stats{CPUTime: 5 * time.Second, Memory: 100 << 20, Processes: 10}
	grown := func(cpu time.Duration, mem int64, procs int) sandbox.Stats {
		return sandbox.Stats{CPUTime: base.CPUTime + cpu, Memory: base.Memory + mem, Processes: base.Processes + procs}
	}
	for _, c := range []struct {
		name        string
		before, now sandbox.Stats
		want        error
	}{
		{"within, on a full Box", base, grown(time.Second/2, 3<<20, 3), nil},
		{"memory", base, grown(0, 5<<20, 0), errMemory},
		{"cpu", base, grown(2*time.Second, 0, 0), errCPU},
		{"pids", base, grown(0, 0, 5), errPids},
		{"less than before", base, sandbox.Stats{Memory: 1 << 20}, nil},
		{"no memory controller", sandbox.Stats{Memory: -1}, sandbox.Stats{Memory: 5 << 20}, errMemory},
		{"at the limit", base, grown(time.Second, 4<<20, 4), nil},
	} {
		if got := overLimit(l, c.before, c.now); got != c.want {
			t.Errorf("%s: overLimit = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStepOfTruncated: a step whose output was cut at its cap is the
// output limit even when the command ended by itself before the kill the
// overflow set off (the Result names no limit), and another limit the
// Result names stays.
func TestStepOfTruncated(t *testing.T) {
	full := func() *capped {
		c := &capped{max: 4}
		c.Write([]byte("hello"))
		return c
	}
	if s := stepOf(&sandbox.Result{}, full(), &capped{max: 4}); s.Limit != job.LimitOutput || !s.StdoutTruncated {
		t.Errorf("stdout cut, exit 0: limit %q (truncated %v), want output", s.Limit, s.StdoutTruncated)
	}
	if s := stepOf(&sandbox.Result{}, &capped{max: 4}, full()); s.Limit != job.LimitOutput {
		t.Errorf("stderr cut: limit %q, want output", s.Limit)
	}
	if s := stepOf(&sandbox.Result{Limit: sandbox.LimitTime}, full(), &capped{max: 4}); s.Limit != job.LimitWallTime {
		t.Errorf("cut, then timed out: limit %q, want wall_time", s.Limit)
	}
	if s := stepOf(&sandbox.Result{}, &capped{max: 4}, &capped{max: 4}); s.Limit != "" {
		t.Errorf("the control, nothing cut: limit %q, want none", s.Limit)
	}
}
