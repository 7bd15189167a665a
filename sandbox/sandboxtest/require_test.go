package sandboxtest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// fakeReport is a host with user namespaces and without Landlock.
func fakeReport(usernsAvailable bool) *sandbox.Report {
	return &sandbox.Report{Features: []sandbox.Feature{
		{Name: "user namespaces", Required: true, Available: usernsAvailable,
			Detail: "kernel.apparmor_restrict_unprivileged_userns=1", Fix: "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
		{Name: "landlock", Detail: "Landlock is disabled at boot", Fix: "add landlock to the lsm= kernel parameter"},
		{Name: "seccomp", Available: true, Detail: "mode 0"},
	}}
}

// TestRequire: a missing feature skips the test without EnvRequire and
// fails it with EnvRequire=1, and the message says what is missing, what
// was found and the fix; a feature that is there, and a feature not asked
// for, change nothing.
func TestRequire(t *testing.T) {
	cases := []struct {
		name     string
		userns   bool
		features []string
		env      string
		skipped  bool
		failed   bool
		want     []string // in the message
	}{
		{"all there", true, []string{"seccomp"}, "", false, false, nil},
		{"optional missing, not asked", true, nil, "1", false, false, nil},
		{"optional missing, skip", true, []string{"landlock"}, "", true, false,
			[]string{"landlock (Landlock is disabled at boot), fix: add landlock to the lsm= kernel parameter", "set CORRAL_REQUIRE_SANDBOX=1"}},
		{"optional missing, fail", true, []string{"landlock"}, "1", false, true,
			[]string{"landlock (Landlock is disabled at boot)", "CORRAL_REQUIRE_SANDBOX is set"}},
		{"optional missing, env 0 skips", true, []string{"landlock"}, "0", true, false, []string{"landlock"}},
		{"required missing, skip", false, nil, "", true, false,
			[]string{"user namespaces (kernel.apparmor_restrict_unprivileged_userns=1), fix: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"}},
		{"required missing, fail", false, nil, "true", false, true, []string{"user namespaces"}},
		{"unknown feature", true, []string{"gpu"}, "", false, true, []string{`no feature "gpu"`, `"landlock"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			SetCheck(t, fakeReport(c.userns))
			t.Setenv(EnvRequire, c.env)
			reached := false
			f := RunFake(t, func(tb testing.TB) {
				Require(tb, c.features...)
				reached = true
			})
			if f.Skipped() != c.skipped || f.Failed() != c.failed || reached != (!c.skipped && !c.failed) {
				t.Fatalf("Require: %v, went on: %v; want skipped %v, failed %v", f, reached, c.skipped, c.failed)
			}
			for _, w := range c.want {
				if !strings.Contains(f.Msg, w) {
					t.Errorf("message %q lacks %q", f.Msg, w)
				}
			}
		})
	}
}

// TestEveryHelperRequires: Output, Run, Start and Helper skip on a host
// without user namespaces before they start anything.
func TestEveryHelperRequires(t *testing.T) {
	SetCheck(t, fakeReport(false))
	t.Setenv(EnvRequire, "")
	for name, fn := range map[string]func(testing.TB){
		"Output": func(tb testing.TB) { Output(tb, sandbox.Options{}, "true") },
		"Run":    func(tb testing.TB) { Run(tb, sandbox.Options{}, sandbox.Command("true")) },
		"Start":  func(tb testing.TB) { Start(tb, sandbox.Options{}, sandbox.Command("true")) },
		"Helper": func(tb testing.TB) { Helper(tb, sandbox.Options{}, "TestX") },
	} {
		if f := RunFake(t, fn); !f.Skipped() || f.Failed() || !strings.Contains(f.Msg, "user namespaces") {
			t.Errorf("%s on a host without user namespaces: %v; want a skip naming them", name, f)
		}
	}
}

// TestStartFailed: a *FeatureError from Run skips (or fails with
// EnvRequire) with its text; sandbox.ErrMainNotCalled fails with the
// TestMain to write; any other error fails with the error.
func TestStartFailed(t *testing.T) {
	fe := &sandbox.FeatureError{Feature: "cgroups", Reason: "no delegated cgroup", Fix: "systemd Delegate=yes"}
	cases := []struct {
		err             error
		env             string
		skipped, failed bool
		want            string
	}{
		{fe, "", true, false, "cgroups not available: no delegated cgroup (fix: systemd Delegate=yes)"},
		{fe, "1", false, true, "cgroups not available"},
		{sandbox.ErrMainNotCalled, "", false, true, "sandbox.Main()\n"},
		{errors.New("boom"), "", false, true, "boom"},
	}
	for _, c := range cases {
		t.Setenv(EnvRequire, c.env)
		f := RunFake(t, func(tb testing.TB) { startFailed(tb, sandbox.Command("x"), c.err) })
		if f.Skipped() != c.skipped || f.Failed() != c.failed || !strings.Contains(f.Msg, c.want) {
			t.Errorf("startFailed(%v) with %s=%q: %v; want skipped %v, failed %v, %q", c.err, EnvRequire, c.env, f, c.skipped, c.failed, c.want)
		}
	}
}

type deadlineTB struct {
	testing.TB
	d time.Time
}

func (d deadlineTB) Deadline() (time.Time, bool) { return d.d, true }

// TestRunContext: the run's context ends a tenth of the time left (at
// least a second) before the test binary's deadline, and has none without
// one.
func TestRunContext(t *testing.T) {
	now := time.Now()
	for _, c := range []struct{ left, grace time.Duration }{
		{100 * time.Second, 10 * time.Second},
		{5 * time.Second, time.Second},
		{time.Hour, time.Minute},
	} {
		ctx, cancel := runContext(deadlineTB{t, now.Add(c.left)})
		d, ok := ctx.Deadline()
		cancel()
		if got := now.Add(c.left).Sub(d); !ok || got < c.grace-time.Second/10 || got > c.grace+time.Second/10 {
			t.Errorf("%v left: the run ends %v before the deadline (%v); want %v", c.left, got, ok, c.grace)
		}
	}
	ctx, cancel := runContext(&FakeTB{TB: t})
	defer cancel()
	if d, ok := ctx.Deadline(); ok {
		t.Errorf("without a test deadline the run's context has one: %v", d)
	}
}
