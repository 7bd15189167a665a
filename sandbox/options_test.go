package sandbox

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox/seccomp"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/f"
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		name  string
		opts  Options
		field string // "" means valid
	}{
		{"zero value", Options{}, ""},
		{"full", Options{Root: dir, Hostname: "a-b.c", Network: NetworkHost, Mounts: []Mount{Bind(dir, "/d"), Tmpfs("/t", 1<<20)}}, ""},
		{"relative root", Options{Root: "rel"}, "Options.Root"},
		{"missing root", Options{Root: "/no/such/dir"}, "Options.Root"},
		{"file root", Options{Root: file}, "Options.Root"},
		{"bad network", Options{Network: 7}, "Options.Network"},
		{"pool and reuse", Options{Pool: 4, Reuse: true}, ""},
		{"negative pool", Options{Pool: -1}, "Options.Pool"},
		{"huge pool", Options{Pool: MaxPool + 1}, "Options.Pool"},
		{"reuse without pool", Options{Reuse: true}, "Options.Reuse"},
		{"CAP_SETFCAP, root or not", Options{Capabilities: []string{"setfcap"}}, map[bool]string{true: "Options.Capabilities[0]", false: ""}[os.Geteuid() == 0]},
		// CAP_SYS_PTRACE would reach the init (not dumpable, holding
		// capabilities): refused for every caller, in any spelling.
		{"CAP_SYS_PTRACE", Options{Capabilities: []string{"CAP_NET_BIND_SERVICE", "sys_ptrace"}}, "Options.Capabilities[1]"},
		{"CAP_SYS_PTRACE without the filter", Options{Capabilities: []string{"CAP_SYS_PTRACE"}, Seccomp: seccomp.Profile{Disabled: true}}, "Options.Capabilities[0]"},
		{"reuse with capabilities", Options{Pool: 1, Reuse: true, Capabilities: []string{"CAP_NET_BIND_SERVICE"}}, "Options.Reuse"},
		{"reuse without filter", Options{Pool: 1, Reuse: true, Seccomp: seccomp.Profile{Disabled: true}}, "Options.Reuse"},
		{"reuse with unshare refused", Options{Pool: 1, Reuse: true, Seccomp: seccomp.Profile{Rules: []seccomp.Rule{
			{Syscalls: []string{"getpid"}, Action: seccomp.Allow},
			{Syscalls: []string{"setns", "unshare"}, Action: seccomp.Errno(syscall.EPERM)}}}}, "Options.Seccomp.Rules[1]"},
		{"reuse with unshare allowed", Options{Pool: 1, Reuse: true, Seccomp: seccomp.Profile{Rules: []seccomp.Rule{
			{Syscalls: []string{"unshare"}, Action: seccomp.Log}}}}, ""},
		{"unshare refused without reuse", Options{Seccomp: seccomp.Profile{Rules: []seccomp.Rule{
			{Syscalls: []string{"unshare"}, Action: seccomp.Kill}}}}, ""},
		{"bad hostname", Options{Hostname: "a b"}, "Options.Hostname"},
		{"long hostname", Options{Hostname: strings.Repeat("a", 65)}, "Options.Hostname"},
		{"relative dest", Options{Mounts: []Mount{Bind(dir, "d")}}, "Options.Mounts[0].Destination"},
		{"unclean dest", Options{Mounts: []Mount{Tmpfs("/a/../b", 0)}}, "Options.Mounts[0].Destination"},
		{"root dest", Options{Mounts: []Mount{Bind(dir, "/")}}, "Options.Mounts[0].Destination"},
		{"proc dest", Options{Mounts: []Mount{Bind(dir, "/proc/sys")}}, "Options.Mounts[0].Destination"},
		{"relative source", Options{Mounts: []Mount{Tmpfs("/ok", 0), Bind("rel", "/d")}}, "Options.Mounts[1].Source"},
		{"missing source", Options{Mounts: []Mount{Bind("/no/such", "/d")}}, "Options.Mounts[0].Source"},
		{"tmpfs with source", Options{Mounts: []Mount{{Type: TmpfsMount, Source: dir, Destination: "/t"}}}, "Options.Mounts[0].Source"},
		{"negative size", Options{Mounts: []Mount{Tmpfs("/t", -1)}}, "Options.Mounts[0].Size"},
		{"bind with size", Options{Mounts: []Mount{{Source: dir, Destination: "/d", Size: 5}}}, "Options.Mounts[0].Size"},
		{"bad type", Options{Mounts: []Mount{{Type: 9, Destination: "/d"}}}, "Options.Mounts[0].Type"},
		{"duplicate dest", Options{Mounts: []Mount{Tmpfs("/d", 0), Bind(dir, "/d")}}, "Options.Mounts[1].Destination"},
		{"parent listed after child", Options{Mounts: []Mount{Bind(dir, "/a/b"), BindWritable(dir, "/a")}}, "Options.Mounts[1].Destination"},
		{"parent listed first", Options{Mounts: []Mount{BindWritable(dir, "/a"), Bind(dir, "/a/b")}}, ""},
		{"limits", Options{Limits: Limits{Memory: 64 << 20, Pids: 10, CPUs: 0.5, Time: time.Second, CPUTime: time.Second, Output: 1}}, ""},
		{"negative memory", Options{Limits: Limits{Memory: -1}}, "Options.Limits.Memory"},
		{"tiny memory", Options{Limits: Limits{Memory: 4096}}, "Options.Limits.Memory"},
		{"negative pids", Options{Limits: Limits{Pids: -1}}, "Options.Limits.Pids"},
		{"negative cpus", Options{Limits: Limits{CPUs: -0.5}}, "Options.Limits.CPUs"},
		{"tiny cpus", Options{Limits: Limits{CPUs: 0.001}}, "Options.Limits.CPUs"},
		{"negative time", Options{Limits: Limits{Time: -time.Second}}, "Options.Limits.Time"},
		{"negative cpu time", Options{Limits: Limits{CPUTime: -1}}, "Options.Limits.CPUTime"},
		{"negative output", Options{Limits: Limits{Output: -1}}, "Options.Limits.Output"},
		{"cgroup parent with ..", Options{CgroupParent: "a/../b"}, "Options.CgroupParent"},
		{"capabilities", Options{Capabilities: []string{"CAP_NET_RAW", "sys_admin"}}, ""},
		{"bad capability", Options{Capabilities: []string{"CAP_NET_RAW", "CAP_FLY"}}, "Options.Capabilities[1]"},
		{"negative core", Options{Rlimits: Rlimits{Core: -1}}, "Options.Rlimits.Core"},
		{"negative locked memory", Options{Rlimits: Rlimits{LockedMemory: -1}}, "Options.Rlimits.LockedMemory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.validate()
			var oe *OptionError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("want valid, got %v", err)
			case tc.field != "" && (!errors.As(err, &oe) || oe.Field != tc.field):
				t.Errorf("want an OptionError for %s, got %v", tc.field, err)
			case tc.field != "" && !strings.Contains(err.Error(), tc.field):
				t.Errorf("message does not name the field: %v", err)
			}
			// New never panics and Run reports the same error.
			if tc.field != "" {
				if _, rerr := New(tc.opts).Run(Command("/bin/true")); rerr == nil || rerr.Error() != err.Error() {
					t.Errorf("Run: %v, want %v", rerr, err)
				}
			}
		})
	}
}

func TestValidateCmd(t *testing.T) {
	for _, tc := range []struct {
		cmd   *Cmd
		field string
	}{
		{Command("/bin/true"), ""},
		{nil, "Cmd"},
		{&Cmd{}, "Cmd.Path"},
		{&Cmd{Path: "x", Env: []string{"NOEQUALS"}}, "Cmd.Env[0]"},
		{&Cmd{Path: "x", Env: []string{"A=1", "=v"}}, "Cmd.Env[1]"},
		{&Cmd{Path: "x", Args: []string{"x", "a\x00b"}}, "Cmd.Args[1]"},
		{&Cmd{Path: "x", Dir: "rel"}, "Cmd.Dir"},
		{&Cmd{Path: "x", ExtraFiles: []*os.File{nil}}, "Cmd.ExtraFiles[0]"},
	} {
		err := tc.cmd.validate(false)
		var oe *OptionError
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &oe) || oe.Field != tc.field) {
			t.Errorf("%+v: got %v, want field %q", tc.cmd, err, tc.field)
		}
	}
}

type fakeInfo struct {
	fs.FileInfo
	mode fs.FileMode
}

func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }

func TestPlan(t *testing.T) {
	// A merged-/usr host: /bin is a symlink, /lib32 is missing.
	lstat := func(p string) (fs.FileInfo, error) {
		switch p {
		case "/bin", "/lib":
			return fakeInfo{mode: fs.ModeSymlink}, nil
		case "/usr", "/lib64", "/sbin":
			return fakeInfo{mode: fs.ModeDir}, nil
		}
		return nil, fs.ErrNotExist
	}
	readlink := func(p string) (string, error) { return "usr" + p, nil }
	o := Options{Hostname: "h", Mounts: []Mount{Tmpfs("/tmp", 1<<20), Bind("/srv", "/srv")}}
	ms := o.plan(lstat, readlink)
	find := func(target string) (isolate.Mount, int) {
		for i, m := range ms {
			if m.Target == target {
				return m, i
			}
		}
		return isolate.Mount{}, -1
	}
	if m, _ := find("/bin"); m.Kind != isolate.Symlink || m.Data != "usr/bin" {
		t.Errorf("/bin: %+v", m)
	}
	if m, _ := find("/usr"); m.Kind != isolate.Bind || !m.ReadOnly {
		t.Errorf("/usr: %+v", m)
	}
	if _, i := find("/lib32"); i >= 0 {
		t.Error("a missing system dir is planned")
	}
	if m, _ := find("/etc/hosts"); !strings.Contains(m.Data, "localhost h") {
		t.Errorf("/etc/hosts: %+v", m)
	}
	// The user's /tmp replaces the default one in place, before /work.
	tmp, ti := find("/tmp")
	_, wi := find(WorkDir)
	if tmp.Size != 1<<20 || tmp.Mode != 0o1777 || ti > wi {
		t.Errorf("/tmp: %+v at %d (work at %d)", tmp, ti, wi)
	}
	if m, i := find("/srv"); m.Kind != isolate.Bind || !m.ReadOnly || i != len(ms)-1 {
		t.Errorf("/srv: %+v at %d", m, i)
	}
	// A mount above defaults replaces them all; one through a symlinked
	// system dir lands behind the symlink.
	o = Options{Mounts: []Mount{Tmpfs("/etc", 0), Bind("/srv", "/bin/tool")}}
	ms = o.plan(lstat, readlink)
	if m, i := find("/etc"); m.Kind != isolate.Tmpfs || i < 0 {
		t.Errorf("/etc: %+v", m)
	}
	for _, m := range ms {
		if strings.HasPrefix(m.Target, "/etc/") {
			t.Errorf("default %s kept under the user's /etc", m.Target)
		}
	}
	if m, i := find("/usr/bin/tool"); m.Kind != isolate.Bind || i != len(ms)-1 {
		t.Errorf("/bin/tool: want it at /usr/bin/tool, last; got %+v at %d", m, i)
	}
	// A custom root gets no host system dirs and no generated /etc.
	o = Options{Root: "/img"}
	for _, m := range o.plan(lstat, readlink) {
		if m.Target == "/usr" || strings.HasPrefix(m.Target, "/etc") {
			t.Errorf("custom root plans %s", m.Target)
		}
	}
}

func TestErrors(t *testing.T) {
	fe := &FeatureError{Feature: "user namespaces", Reason: "disabled", Fix: "sysctl"}
	if !errors.Is(fe, ErrNotSupported) || !strings.Contains(fe.Error(), "fix: sysctl") {
		t.Errorf("FeatureError: %v", fe)
	}
	se := &SetupError{Step: "bind", Path: "/x", Errno: 2}
	if !errors.Is(se, fs.ErrNotExist) || se.Error() != "sandbox: bind /x: no such file or directory" {
		t.Errorf("SetupError: %v", se)
	}
}
