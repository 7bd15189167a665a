package sandboxtest

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/corral-dev/corral/sandbox"
)

// FakeTB is a testing.TB that records what a helper of this package did
// to it: Fatal and Skip end the calling goroutine with runtime.Goexit, as
// they do on a real *testing.T. Everything else goes to the real test.
type FakeTB struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	skipped  bool
	Msg      string // what it was told, one line per call
	cleanups []func()
}

func (f *FakeTB) record(failed, skipped bool, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = f.failed || failed
	f.skipped = f.skipped || skipped
	if f.Msg != "" {
		f.Msg += "\n"
	}
	f.Msg += msg
}

func (f *FakeTB) Helper()                        {}
func (f *FakeTB) Errorf(format string, a ...any) { f.record(true, false, fmt.Sprintf(format, a...)) }
func (f *FakeTB) Error(a ...any)                 { f.record(true, false, fmt.Sprint(a...)) }
func (f *FakeTB) Fatalf(format string, a ...any) { f.Errorf(format, a...); runtime.Goexit() }
func (f *FakeTB) Fatal(a ...any)                 { f.Error(a...); runtime.Goexit() }
func (f *FakeTB) FailNow()                       { f.record(true, false, ""); runtime.Goexit() }
func (f *FakeTB) Skipf(format string, a ...any) {
	f.record(false, true, fmt.Sprintf(format, a...))
	runtime.Goexit()
}
func (f *FakeTB) Skip(a ...any) { f.record(false, true, fmt.Sprint(a...)); runtime.Goexit() }
func (f *FakeTB) SkipNow()      { f.record(false, true, ""); runtime.Goexit() }
func (f *FakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// Failed reports whether the test was failed (Error, Fatal, FailNow).
func (f *FakeTB) Failed() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }

// Skipped reports whether the test was skipped.
func (f *FakeTB) Skipped() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.skipped }

func (f *FakeTB) String() string {
	return fmt.Sprintf("failed %v, skipped %v: %q", f.Failed(), f.Skipped(), f.Msg)
}

// RunFake runs fn with a FakeTB over t in a goroutine of its own, then its
// cleanups (last first), and returns it.
func RunFake(t testing.TB, fn func(testing.TB)) *FakeTB {
	f := &FakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	cleanups := slices.Clone(f.cleanups)
	f.mu.Unlock()
	for _, c := range slices.Backward(cleanups) {
		c()
	}
	return f
}

// SetCheck makes Require see r instead of sandbox.Check for the rest of t.
func SetCheck(t testing.TB, r *sandbox.Report) {
	old := check
	check = func() *sandbox.Report { return r }
	t.Cleanup(func() { check = old })
}
