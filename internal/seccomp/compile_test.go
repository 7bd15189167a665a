package seccomp

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestCompileDefault(t *testing.T) {
	layers, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	bpf, err := Compile(layers, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bpf) < 8*100 {
		t.Errorf("default filter has only %d instructions", len(bpf)/8)
	}
	t.Logf("default filter: %d instructions", len(bpf)/8)
}

func TestCompileStrict(t *testing.T) {
	layers, _ := Default(nil)
	custom := []Rule{{Names: []string{"no_such_call"}, Action: Action{Kind: Errno, Errno: syscall.EPERM}}}
	if _, err := Compile(append(layers, custom), []bool{false, false, true}); err == nil {
		t.Error("an unknown system call in the caller's rules compiled")
	}
}

// BenchmarkCompileDefault is the cost of building and compiling the
// default profile, which New pays once per process (or per Sandbox with
// its own rules). go test -run ^$ -bench CompileDefault -benchtime 200x ./internal/seccomp
func BenchmarkCompileDefault(b *testing.B) {
	var ms []float64
	for b.Loop() {
		t0 := time.Now()
		layers, _ := Default(nil)
		if _, err := Compile(layers, nil); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, time.Since(t0).Seconds()*1e3)
	}
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "p50-ms")
}
