package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Main() // the test binary is re-executed as the sandbox init
	os.Exit(m.Run())
}

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"", 0}, {"0", 0}, {"0M", 0}, {"4096", 4096},
		{"64K", 64 << 10}, {"64k", 64 << 10}, {"16M", 16 << 20}, {"16m", 16 << 20}, {"1G", 1 << 30},
	}
	for _, tt := range good {
		if got, err := parseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, nil", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"12Q", "K", "-1", "-1M", "1.5M", " 1M", "1MB", "0x10", "99999999999999999999", "17179869184G", "8589934592G"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, nil; want an error", in, got)
		}
	}
}

func TestSplitBind(t *testing.T) {
	tests := []struct{ spec, src, dst string }{
		{"/data", "/data", "/data"},
		{"/data:/in", "/data", "/in"},
		{"/data:", "/data", ""},
		{"/a:/b:/c", "/a", "/b:/c"},
		{"rel", "rel", "rel"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if src, dst := splitBind(tt.spec); src != tt.src || dst != tt.dst {
			t.Errorf("splitBind(%q) = %q, %q; want %q, %q", tt.spec, src, dst, tt.src, tt.dst)
		}
	}
}

// needSandbox skips the test when this host cannot run sandboxes, but fails
// it in CI, where a skip would hide that nothing was tested.
func needSandbox(t *testing.T) {
	t.Helper()
	if err := sandbox.Check().Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sandboxes cannot run on this host (and CI is set): %v", err)
		}
		t.Skipf("sandboxes cannot run on this host: %v", err)
	}
}

// result is what one call of run produced.
type result struct {
	code           int
	stdout, stderr string
}

// corral calls run with args and stdin, as "corral run ARGS..." would.
func corral(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	needSandbox(t)
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	r := result{code, stdout.String(), stderr.String()}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("corral run %q: exit %d\nstdout: %.2000s\nstderr: %.2000s", args, r.code, r.stdout, r.stderr)
		}
	})
	return r
}

// expect fails the test unless r exited with code and its stderr holds every one of errs.
func (r result) expect(t *testing.T, code int, errs ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d; want %d (stderr: %q)", r.code, code, r.stderr)
	}
	for _, s := range errs {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr %q does not contain %q", r.stderr, s)
		}
	}
}

func TestRunExitStatus(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		errs []string // in stderr
	}{
		{"success", []string{"--", "true"}, 0, nil},
		{"no --", []string{"true"}, 0, nil},
		{"exit 3", []string{"--", "sh", "-c", "exit 3"}, 3, nil},
		{"exit 125 from the command", []string{"--", "sh", "-c", "exit 125"}, 125, nil},
		{"not found", []string{"--", "no-such-command-corral"}, exitNotFound, []string{"no-such-command-corral", "no such file"}},
		{"absolute path not found", []string{"--", "/no/such/cmd"}, exitNotFound, []string{"/no/such/cmd"}},
		{"not executable", []string{"--", "/etc/passwd"}, exitNoExec, []string{"/etc/passwd", "permission denied"}},
		{"SIGTERM", []string{"--", "sh", "-c", "kill -TERM $$"}, 128 + int(syscall.SIGTERM), nil},
		{"SIGKILL", []string{"--", "sh", "-c", "kill -KILL $$"}, 128 + int(syscall.SIGKILL), nil},
		{"bad --net", []string{"--net", "bogus", "--", "true"}, exitSetup, []string{"--net", "bogus"}},
		{"bad --tmpfs size", []string{"--tmpfs", "/x:12Q", "--", "true"}, exitSetup, []string{"/x:12Q", "bad size"}},
		{"relative --tmpfs", []string{"--tmpfs", "x", "--", "true"}, exitSetup, []string{"absolute"}},
		{"no command", nil, exitSetup, []string{"no command"}},
		{"only --", []string{"--"}, exitSetup, []string{"no command"}},
		{"relative --ro", []string{"--ro", "relative/path", "--", "true"}, exitSetup, []string{"relative/path", "absolute"}},
		{"missing --ro source", []string{"--ro", "/no/such/dir", "--", "true"}, exitSetup, []string{"/no/such/dir"}},
		{"--ro over /proc", []string{"--ro", "/tmp:/proc/x", "--", "true"}, exitSetup, []string{"/proc"}},
		{"bad --hostname", []string{"--hostname", "a b", "--", "true"}, exitSetup, []string{"Hostname"}},
		{"relative --chdir", []string{"--chdir", "rel", "--", "true"}, exitSetup, []string{"Dir"}},
		{"missing --chdir", []string{"--chdir", "/no/such/dir", "--", "true"}, exitSetup, []string{"chdir", "/no/such/dir"}},
		{"bad --env", []string{"--env", "NOEQUALS", "--", "true"}, exitSetup, []string{"NOEQUALS"}},
		{"unknown flag", []string{"--bogus", "--", "true"}, exitSetup, []string{"bogus", "usage"}},
		{"help", []string{"-h"}, 0, []string{"usage", "-tmpfs DST[:SIZE]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			corral(t, "", tt.args...).expect(t, tt.code, tt.errs...)
		})
	}
}

func TestRunJSON(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		exitCode float64
		signal   string
	}{
		{"success", "true", 0, ""},
		{"exit 3", "echo noise >&2; exit 3", 3, ""},
		{"SIGTERM", "kill -TERM $$", -1, "SIGTERM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := corralJSON(t, "", "--", "sh", "-c", tt.script)
			keys := slices.Sorted(maps.Keys(got))
			if want := []string{"cgroup", "cpu_ms", "degraded", "exit_code", "limit", "memory_peak_bytes", "oom_killed",
				"output_truncated", "pids_limit_hit", "signal", "timed_out", "wall_ms"}; !slices.Equal(keys, want) {
				t.Errorf("JSON keys %q; want %q", keys, want)
			}
			if got["exit_code"] != tt.exitCode || got["signal"] != tt.signal {
				t.Errorf("exit_code %v, signal %q; want %v, %q", got["exit_code"], got["signal"], tt.exitCode, tt.signal)
			}
			if ms, ok := got["wall_ms"].(float64); !ok || ms <= 0 {
				t.Errorf("wall_ms = %v; want a positive number", got["wall_ms"])
			}
		})
	}
}

func TestRunBinds(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("ro refuses writes", func(t *testing.T) {
		r := corral(t, "", "--ro", dir+":/data", "--", "sh", "-c", "cat /data/in; echo x > /data/out")
		if r.code == 0 || !strings.Contains(r.stderr, "Read-only") {
			t.Errorf("write to a --ro bind: exit %d, stderr %q; want a failure naming Read-only", r.code, r.stderr)
		}
		if r.stdout != "from host\n" {
			t.Errorf("reading a --ro bind: stdout %q; want %q", r.stdout, "from host\n")
		}
		if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
			t.Errorf("the write through a --ro bind reached the host (stat: %v)", err)
		}
	})
	t.Run("ro without a destination", func(t *testing.T) {
		r := corral(t, "", "--ro", dir, "--", "cat", dir+"/in")
		r.expect(t, 0)
		if r.stdout != "from host\n" {
			t.Errorf("stdout %q; want %q", r.stdout, "from host\n")
		}
	})
	t.Run("mounts apply in command-line order", func(t *testing.T) {
		sub := filepath.Join(dir, "sub")
		os.Mkdir(sub, 0o755)
		// --rw then a --ro inside it: the inner bind stays read-only.
		r := corral(t, "", "--rw", dir+":/p", "--ro", sub+":/p/sub", "--", "sh", "-c", "echo x > /p/sub/f")
		if r.code == 0 || !strings.Contains(r.stderr, "Read-only") {
			t.Errorf("write into --ro inside --rw: exit %d, stderr %q", r.code, r.stderr)
		}
		// The other way round would hide the inner bind: refused, naming the order.
		corral(t, "", "--ro", sub+":/p/sub", "--rw", dir+":/p", "--", "true").expect(t, 125, "listed earlier")
	})
	t.Run("rw allows writes", func(t *testing.T) {
		corral(t, "", "--rw", dir+":/data", "--", "sh", "-c", "echo written > /data/out").expect(t, 0)
		out := filepath.Join(dir, "out")
		b, err := os.ReadFile(out)
		if err != nil || string(b) != "written\n" {
			t.Fatalf("host file written through --rw: %q, %v; want %q", b, err, "written\n")
		}
		// Root inside the sandbox is the calling user outside it.
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
			t.Errorf("file written through --rw is owned by uid %d; want %d", uid, os.Getuid())
		}
	})
}

func TestRunEnv(t *testing.T) {
	const marker = "CORRAL_TEST_HOST_MARKER"
	t.Setenv(marker, "leaked")
	tests := []struct {
		name string
		args []string
		want []string // the whole environment, sorted
	}{
		{"none", nil, nil},
		{"one", []string{"--env", "FOO=bar"}, []string{"FOO=bar"}},
		{"several", []string{"--env", "B=2", "--env", "A=x=y", "--env", "EMPTY="},
			[]string{"A=x=y", "B=2", "EMPTY="}},
		{"own PATH and HOME", []string{"--env", "PATH=/bin:/usr/bin", "--env", "HOME=/tmp"}, []string{"PATH=/bin:/usr/bin", "HOME=/tmp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := corral(t, "", append(tt.args, "--", "env")...)
			r.expect(t, 0)
			got := strings.Fields(r.stdout)
			slices.Sort(got)
			want := withLoginEnv(tt.want)
			if !slices.Equal(got, want) {
				t.Errorf("environment %q; want %q", got, want)
			}
			if strings.Contains(r.stdout, marker) {
				t.Errorf("the host's %s reached the sandbox", marker)
			}
		})
	}
}

// withLoginEnv adds to env, sorted, the variables the library sets by
// default where env lacks them.
func withLoginEnv(env []string) []string {
	out := slices.Clone(env)
	login := []string{"PATH=" + isolate.DefaultPath, "HOME=/work", "USER=root", "LOGNAME=root"}
	if st, err := os.Stat("/usr/lib/locale/C.utf8"); err == nil && st.IsDir() {
		login = append(login, "LANG=C.UTF-8")
	}
	for _, kv := range login {
		key, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") }) {
			out = append(out, kv)
		}
	}
	slices.Sort(out)
	return out
}

// TestRunTerm: with --stdio inherit on a terminal the command gets
// corral's TERM (unless --env sets one); through pipes it gets none.
func TestRunTerm(t *testing.T) {
	t.Setenv("TERM", "xterm-corral-test")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"inherit", []string{"--stdio", "inherit"}, "TERM=xterm-corral-test"},
		{"inherit, --env", []string{"--stdio", "inherit", "--env", "TERM=dumb"}, "TERM=dumb"},
		{"pipe", []string{"--stdio", "pipe"}, "TERM="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needSandbox(t)
			ptm, pts := testutil.OpenPTY(t)
			var stderr bytes.Buffer
			code := run(append(tc.args, "--", "sh", "-c", `echo "TERM=$TERM"`), strings.NewReader(""), pts, &stderr)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			ptm.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 256)
			n, err := ptm.Read(buf)
			if got := strings.TrimSpace(string(buf[:n])); got != tc.want {
				t.Errorf("the command printed %q (%v); want %q", got, err, tc.want)
			}
		})
	}
}

func TestRunHostnameChdir(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // stdout
	}{
		{"default hostname", []string{"--", "cat", "/proc/sys/kernel/hostname", "/etc/hostname"}, "corral\ncorral\n"},
		{"--hostname", []string{"--hostname", "box-1.test", "--", "cat", "/proc/sys/kernel/hostname", "/etc/hostname"}, "box-1.test\nbox-1.test\n"},
		{"default dir", []string{"--", "pwd"}, "/work\n"},
		{"--chdir", []string{"--chdir", "/tmp", "--", "pwd"}, "/tmp\n"},
		{"--chdir into a bind", []string{"--ro", "/usr", "--chdir", "/usr/bin", "--", "sh", "-c", "pwd; test -x ./sh && echo ok"}, "/usr/bin\nok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := corral(t, "", tt.args...)
			r.expect(t, 0)
			if r.stdout != tt.want {
				t.Errorf("stdout %q; want %q", r.stdout, tt.want)
			}
		})
	}
}

func TestRunTmpfs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"1M holds 512K", []string{"--tmpfs", "/scratch:1M", "--", "dd", "if=/dev/zero", "of=/scratch/f", "bs=1024", "count=512"}, true},
		{"1M refuses 2M", []string{"--tmpfs", "/scratch:1M", "--", "dd", "if=/dev/zero", "of=/scratch/f", "bs=1024", "count=2048"}, false},
		{"default size holds 2M", []string{"--tmpfs", "/scratch", "--", "dd", "if=/dev/zero", "of=/scratch/f", "bs=1024", "count=2048"}, true},
		{"replaces /tmp", []string{"--tmpfs", "/tmp:64K", "--", "dd", "if=/dev/zero", "of=/tmp/f", "bs=1024", "count=128"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := corral(t, "", tt.args...)
			if tt.ok {
				r.expect(t, 0)
			} else if r.code == 0 || !strings.Contains(r.stderr, "No space left") {
				t.Errorf("exit %d, stderr %q; want a failure with No space left", r.code, r.stderr)
			}
		})
	}
}

func TestRunStdin(t *testing.T) {
	tests := []struct{ in, cmd, want string }{
		{"hello\nworld\n", "cat", "hello\nworld\n"},
		{"a\nb\nc\n", "wc -l", "3\n"},
		{"", "cat; echo end", "end\n"},
		{strings.Repeat("x", 1<<20), "wc -c", "1048576\n"},
	}
	for _, tt := range tests {
		r := corral(t, tt.in, "--", "sh", "-c", tt.cmd)
		r.expect(t, 0)
		if strings.TrimLeft(r.stdout, " ") != tt.want {
			t.Errorf("%s with %d bytes of stdin: stdout %q; want %q", tt.cmd, len(tt.in), r.stdout, tt.want)
		}
	}
}

func TestRunLimits(t *testing.T) {
	parent := os.Getenv("CORRAL_CGROUP_PARENT")
	for _, tc := range []struct {
		flags []string
		limit string
	}{
		{[]string{"--memory", "32M", "--", "tail", "/dev/zero"}, "memory"},
		{[]string{"--time", "200ms", "--", "sleep", "10"}, "time"},
		{[]string{"--cpu-time", "200ms", "--", "sh", "-c", "while :; do :; done"}, "cpu-time"},
		{[]string{"--output", "100", "--", "yes"}, "output"},
	} {
		_, got := corralJSON(t, "", append([]string{"--cgroup-parent", parent}, tc.flags...)...)
		if got["limit"] != tc.limit {
			t.Errorf("%q: limit %v; want %s (%v)", tc.flags, got["limit"], tc.limit, got)
		}
	}
	corral(t, "", "--memory", "12Q", "--", "true").expect(t, 125, "-memory")
	corral(t, "", "--cpus", "-1", "--", "true").expect(t, 125, "Options.Limits.CPUs")
}

func TestRunSeccomp(t *testing.T) {
	dir := t.TempDir()
	profile := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const userns = "unshare -U true && echo ok"
	t.Run("default refuses user namespaces", func(t *testing.T) {
		for _, args := range [][]string{{"--", "sh", "-c", userns}, {"--seccomp", "default", "--", "sh", "-c", userns}} {
			r := corral(t, "", args...)
			if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "Operation not permitted") {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want unshare to fail with EPERM", args, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		r := corral(t, "", "--seccomp", "off", "--", "sh", "-c", userns)
		r.expect(t, 0)
		if r.stdout != "ok\n" {
			t.Errorf("stdout %q; want %q", r.stdout, "ok\n")
		}
	})
	t.Run("disable in a file", func(t *testing.T) {
		r := corral(t, "", "--seccomp", profile("off.profile", "# for unshare\ndisable\n"), "--", "sh", "-c", userns)
		r.expect(t, 0)
		if r.stdout != "ok\n" {
			t.Errorf("stdout %q; want %q", r.stdout, "ok\n")
		}
	})
	t.Run("errno rule", func(t *testing.T) {
		r := corral(t, "", "--", "realpath", ".")
		r.expect(t, 0)
		if r.stdout != "/work\n" {
			t.Errorf("realpath without a profile: stdout %q; want /work", r.stdout)
		}
		p := profile("exdev.profile", "# getcwd fails\nerrno EXDEV getcwd\n")
		corral(t, "", "--seccomp", p, "--", "realpath", ".").expect(t, 1, "Invalid cross-device link")
	})
	t.Run("bad profile", func(t *testing.T) {
		p := profile("bad.profile", "# a typo on line 3\n\nkill getppid, fooo\n")
		r := corral(t, "", "--seccomp", p, "--", "true")
		r.expect(t, exitSetup, p+": seccomp profile line 3, field 3 (\"fooo\"): unknown system call")
		if strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("stderr %q; want one line", r.stderr)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		corral(t, "", "--seccomp", filepath.Join(dir, "none"), "--", "true").expect(t, exitSetup, "--seccomp", filepath.Join(dir, "none"), "no such file")
	})
	t.Run("help", func(t *testing.T) {
		corral(t, "", "-h").expect(t, 0, "-seccomp FILE", "default, off")
	})
}

func TestRunCapAndLandlock(t *testing.T) {
	r := corral(t, "", "--cap", "NET_BIND_SERVICE", "--", "grep", "CapEff", "/proc/self/status")
	r.expect(t, 0)
	if !strings.Contains(r.stdout, "0000000000000400") {
		t.Errorf("--cap NET_BIND_SERVICE: %q", r.stdout)
	}
	corral(t, "", "--cap", "FLY", "--", "true").expect(t, 125, "Options.Capabilities[0]")
	corral(t, "", "--landlock", "maybe", "--", "true").expect(t, 125, "--landlock")
	corral(t, "", "--landlock", "off", "--", "true").expect(t, 0)
}
