package sandbox_test

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
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

// BenchmarkReexecFloor is the floor of the re-exec design: this binary
// re-executed into the same namespaces as a sandbox, exiting at once in
// sandbox.Main, with no filesystem, protocol or command. The gap between it
// and BenchmarkColdStart is the sandbox's own set-up.
func BenchmarkReexecFloor(b *testing.B) {
	requireSandbox(b)
	var ms []float64
	for b.Loop() {
		t0 := time.Now()
		if err := protocol.ProbeCommand().Run(); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, time.Since(t0).Seconds()*1e3)
	}
	b.ReportMetric(median(ms), "p50-ms")
}

// BenchmarkLimitedStart runs /bin/true in a default sandbox and, in the same
// iteration, in one with memory, pids and CPU limits (a cgroup of its own),
// and reports the medians and the median added latency.
// go test -run ^$ -bench LimitedStart -benchtime 200x ./sandbox
func BenchmarkLimitedStart(b *testing.B) {
	requireSandbox(b)
	pairedRuns(b, "plain", sandbox.New(sandbox.Options{}),
		"limited", sandbox.New(limited(sandbox.Limits{Memory: 64 << 20, Pids: 64, CPUs: 1})))
}

// pairedRuns times /bin/true in sandbox a and then b in every iteration and
// reports both medians and the median of the per-iteration differences.
func pairedRuns(b *testing.B, aName string, a *sandbox.Sandbox, bName string, bb *sandbox.Sandbox) {
	var ta, tb, d []float64
	for b.Loop() {
		x, y := timeRun(b, a), timeRun(b, bb)
		ta, tb, d = append(ta, x), append(tb, y), append(d, y-x)
	}
	b.ReportMetric(median(ta), aName+"-p50-ms")
	b.ReportMetric(median(tb), bName+"-p50-ms")
	b.ReportMetric(median(d), "added-p50-ms")
}

// BenchmarkHostRSS reports the host's resident memory after 10 and after
// 1,000 limited runs: a leak in the host shows as growth.
// go test -run ^$ -bench HostRSS -benchtime 1x ./sandbox
func BenchmarkHostRSS(b *testing.B) {
	requireSandbox(b)
	sb := sandbox.New(limited(sandbox.Limits{Memory: 64 << 20, Pids: 64, CPUs: 1}))
	for b.Loop() {
		for i := 0; i < 10; i++ {
			timeRun(b, sb)
		}
		debug.FreeOSMemory()
		rss10, heap10, g10 := rssKiB(), heapKiB(), runtime.NumGoroutine()
		for i := 10; i < 1000; i++ {
			timeRun(b, sb)
		}
		debug.FreeOSMemory()
		b.ReportMetric(float64(rss10), "rss-after-10-KiB")
		b.ReportMetric(float64(rssKiB()), "rss-after-1000-KiB")
		b.ReportMetric(float64(heap10), "heap-after-10-KiB")
		b.ReportMetric(float64(heapKiB()), "heap-after-1000-KiB")
		b.ReportMetric(float64(runtime.NumGoroutine()-g10), "goroutines-added")
	}
}

func timeRun(b *testing.B, sb *sandbox.Sandbox) float64 {
	t0 := time.Now()
	p, err := sb.Run(sandbox.Command("/bin/true"))
	if err != nil {
		b.Fatal(err)
	}
	if res, err := p.Wait(); err != nil || !res.Success() {
		b.Fatal(res, err)
	}
	return time.Since(t0).Seconds() * 1e3
}

func heapKiB() int {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapInuse >> 10)
}

func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

// BenchmarkSeccompInstall runs /bin/true with the default seccomp profile
// and, in the same iteration, with the filter off, and reports the median
// added latency of installing it (the filter is compiled once, in New).
// go test -run ^$ -bench SeccompInstall -benchtime 200x ./sandbox
func BenchmarkSeccompInstall(b *testing.B) {
	requireSandbox(b)
	pairedRuns(b, "off", sandbox.New(sandbox.Options{Landlock: sandbox.LandlockOff, Seccomp: seccomp.Profile{Disabled: true}}),
		"on", sandbox.New(sandbox.Options{Landlock: sandbox.LandlockOff}))
}
