package sandbox_test

import (
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// BenchmarkColdStart runs /bin/true in a fresh default sandbox and, in the
// same iteration, with plain exec.Command, so both see the same machine
// state. It reports the medians and the median of the per-iteration ratios.
// For the figures in the closing notes: go test -run ^$ -bench ColdStart -benchtime 200x ./sandbox
func BenchmarkColdStart(b *testing.B) {
	requireSandbox(b)
	sb := sandbox.New(sandbox.Options{})
	var plain, boxed, ratio []float64
	for b.Loop() {
		t0 := time.Now()
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		p, err := sb.Run(sandbox.Command("/bin/true"))
		if err != nil {
			b.Fatal(err)
		}
		if res, err := p.Wait(); err != nil || !res.Success() {
			b.Fatal(res, err)
		}
		t2 := time.Now()
		plain = append(plain, t1.Sub(t0).Seconds()*1e3)
		boxed = append(boxed, t2.Sub(t1).Seconds()*1e3)
		ratio = append(ratio, t2.Sub(t1).Seconds()/t1.Sub(t0).Seconds())
	}
	b.ReportMetric(median(plain), "exec-p50-ms")
	b.ReportMetric(median(boxed), "sandbox-p50-ms")
	b.ReportMetric(median(ratio), "ratio-p50")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
