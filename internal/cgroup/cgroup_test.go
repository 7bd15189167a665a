package cgroup

import (
	"os"
	"strconv"
	"testing"
)

func TestStaleName(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	start := strconv.FormatUint(startTime(os.Getpid()), 10)
	for _, tc := range []struct {
		name  string
		stale bool
	}{
		{"corral-" + self + "-1", false},                             // ours, alive
		{"corral-" + me + ".1." + pidNS + "-7", true},                // our pid, another start: the pid was reused
		{"corral-2147483646." + start + "." + pidNS + "-1", true},    // a pid that does not run
		{"corral-2147483646." + start + ".1-1", false},               // another pid namespace: not ours to judge
		{"corral-2147483646." + start + "-1", false},                 // no pid namespace in the name
		{"corral-x." + start + "." + pidNS + "-1", false},            // malformed
		{"corral-" + me + "." + start + "." + pidNS, false},          // no sequence number
		{"other-2147483646." + start + "." + pidNS + "-1", false},    // not a sandbox cgroup
		{"corral-2147483646." + start + "." + pidNS + ".9-1", false}, // too many fields
		{"corral-2147483646.nope." + pidNS + "-1", false},            // malformed start time
	} {
		if got := staleName(tc.name); got != tc.stale {
			t.Errorf("staleName(%q) = %v; want %v", tc.name, got, tc.stale)
		}
	}
}
