package sandbox

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseKernelRelease(t *testing.T) {
	tests := []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.18.44-fc-v782", 6, 18, true},
		{"5.4.0-150-generic", 5, 4, true},
		{"5.12", 5, 12, true},
		{"4.19.0-21-amd64", 4, 19, true},
		{"6.1-rc2", 6, 1, true},
		{"3.10.0-1160.el7.x86_64", 3, 10, true},
		{"", 0, 0, false},
		{"6", 0, 0, false},
		{"6.", 0, 0, false},
		{"x.1", 0, 0, false},
		{"+6.1", 0, 0, false},
		{"6.x", 0, 0, false},
	}
	for _, tt := range tests {
		major, minor, ok := parseKernelRelease(tt.in)
		if major != tt.major || minor != tt.minor || ok != tt.ok {
			t.Errorf("parseKernelRelease(%q) = %d, %d, %t; want %d, %d, %t",
				tt.in, major, minor, ok, tt.major, tt.minor, tt.ok)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
	}{
		{"v2", "0::/user.slice/user-1000.slice/session-2.scope\n",
			map[string]string{"": "/user.slice/user-1000.slice/session-2.scope"}},
		{"hybrid", "9:name=systemd:/\n8:pids:/p\n4:memory:/process_api/e92b\n2:cpu,cpuacct:/c\n0::/\n",
			map[string]string{"name=systemd": "/", "pids": "/p", "memory": "/process_api/e92b", "cpu": "/c", "cpuacct": "/c", "": "/"}},
		{"colon in path", "0::/a:b", map[string]string{"": "/a:b"}},
		{"junk", "garbage\n\n", map[string]string{}},
	}
	for _, tt := range tests {
		if got := parseProcCgroup(tt.in); !maps.Equal(got, tt.want) {
			t.Errorf("%s: parseProcCgroup = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestDiagnoseUserns(t *testing.T) {
	tests := []struct {
		name      string
		s         usernsSysctls
		root      bool
		reason    string // "" means unrestricted
		fixSubstr string
	}{
		{"no files", usernsSysctls{}, false, "", ""},
		{"defaults", usernsSysctls{"63936", "1", "0"}, false, "", ""},
		{"max zero", usernsSysctls{maxUserNamespaces: "0"}, true, "user.max_user_namespaces=0", "sysctl -w user.max_user_namespaces=15000"},
		{"debian", usernsSysctls{"63936", "0", ""}, false, "kernel.unprivileged_userns_clone=0", "sysctl -w kernel.unprivileged_userns_clone=1"},
		{"debian root", usernsSysctls{"63936", "0", ""}, true, "", ""},
		{"ubuntu 24.04", usernsSysctls{"63936", "1", "1"}, false, "kernel.apparmor_restrict_unprivileged_userns=1", "AppArmor profile"},
		{"ubuntu root", usernsSysctls{"63936", "1", "1"}, true, "", ""},
	}
	for _, tt := range tests {
		reason, fix := diagnoseUserns(tt.s, tt.root)
		if reason != tt.reason || !strings.Contains(fix, tt.fixSubstr) || (reason == "") != (fix == "") {
			t.Errorf("%s: diagnoseUserns = %q, %q; want %q and a fix containing %q", tt.name, reason, fix, tt.reason, tt.fixSubstr)
		}
	}
}

func TestUsernsError(t *testing.T) {
	err := usernsFeatureError(usernsSysctls{apparmorRestrict: "1"}, false, unix.EPERM)
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, unix.EPERM) {
		t.Errorf("error %v does not match ErrNotSupported and EPERM", err)
	}
	if err.Feature != "user namespaces" || !strings.Contains(err.Reason, "apparmor") || err.Fix == "" {
		t.Errorf("bad diagnosis: %#v", err)
	}
	if err := usernsFeatureError(usernsSysctls{}, false, unix.ENOSPC); !strings.Contains(err.Reason, "limit") {
		t.Errorf("ENOSPC: reason %q does not mention the limit", err.Reason)
	}
	if err := usernsFeatureError(usernsSysctls{}, false, unix.EPERM); err.Fix == "" {
		t.Errorf("EPERM with no sysctl restriction: no fix")
	}
	var fe *FeatureError
	if err := usernsError(unix.EPERM); !errors.As(err, &fe) {
		t.Errorf("usernsError returned %T, want *FeatureError", err)
	}
}

func TestCheckUsernsProbe(t *testing.T) {
	defer func(old func() error) { probeUserns = old }(probeUserns)
	probeUserns = func() error { return unix.EPERM }
	f := checkUserns()
	if f.Available || f.Fix == "" || !strings.Contains(f.Detail, unix.EPERM.Error()) {
		t.Errorf("failing probe: got %+v", f)
	}
}

func TestLandlockFeature(t *testing.T) {
	tests := []struct {
		abi       int
		errno     unix.Errno
		available bool
		substr    string
	}{
		{6, 0, true, "Landlock ABI 6; signal scoping"},
		{5, 0, true, "Landlock ABI 5; no signal scoping"},
		{-1, unix.ENOSYS, false, "5.13"},
		{-1, unix.EOPNOTSUPP, false, "lsm="},
		{-1, unix.EPERM, false, "seccomp"},
	}
	for _, tt := range tests {
		f := landlockFeature(tt.abi, tt.errno)
		if f.Available != tt.available || !strings.Contains(f.Detail+f.Fix, tt.substr) {
			t.Errorf("landlockFeature(%d, %v) = %+v; want available %t, mentioning %q", tt.abi, tt.errno, f, tt.available, tt.substr)
		}
	}
}

func TestCheck(t *testing.T) {
	r := Check()
	if r != Check() {
		t.Fatal("Check returned different reports")
	}
	t.Logf("\n%s", r)
	names := map[string]bool{}
	for _, f := range r.Features {
		if f.Name == "" || names[f.Name] {
			t.Errorf("empty or duplicate name: %+v", f)
		}
		names[f.Name] = true
		if f.Available == (f.Fix != "") {
			t.Errorf("%s: Available=%t but Fix=%q", f.Name, f.Available, f.Fix)
		}
		if g, ok := r.Feature(f.Name); !ok || g != f {
			t.Errorf("Feature(%q) = %+v, %t", f.Name, g, ok)
		}
	}
	for _, name := range []string{"user namespaces", "cgroups", "seccomp", "landlock", "overlay", "mount API"} {
		if !names[name] {
			t.Errorf("no feature %q", name)
		}
	}
	if _, ok := r.Feature("no such feature"); ok {
		t.Error("Feature found a feature that does not exist")
	}
}

func TestReportErr(t *testing.T) {
	r := &Report{Features: []Feature{
		{Name: "seccomp", Available: false, Detail: "absent", Fix: "upgrade"},
		{Name: "user namespaces", Available: true, Required: true, Detail: "fine"},
		{Name: "mount API", Required: true, Detail: "kernel 5.4", Fix: "upgrade to Linux 5.12"},
	}}
	err := r.Err()
	var fe *FeatureError
	if !errors.Is(err, ErrNotSupported) || !errors.As(err, &fe) {
		t.Fatalf("Err() = %v; want a *FeatureError matching ErrNotSupported", err)
	}
	if fe.Feature != "mount API" || fe.Reason != "kernel 5.4" || fe.Fix != "upgrade to Linux 5.12" || !strings.Contains(err.Error(), "mount API") {
		t.Errorf("Err() = %#v", fe)
	}
	s := r.String()
	if lines := strings.Split(s, "\n"); len(lines) != 3 || !strings.HasPrefix(lines[2], "MISSING mount API") ||
		!strings.HasPrefix(lines[0], "missing seccomp") || !strings.HasPrefix(lines[1], "ok      user namespaces") {
		t.Errorf("String() =\n%s", s)
	}
	r.Features[2].Available, r.Features[2].Fix = true, ""
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v with every required feature available", err)
	}
}
