package sandbox_test

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox"
)

// hostHasUTF8Locale is whether the default root shows glibc's C.UTF-8,
// where a command gets LANG=C.UTF-8.
func hostHasUTF8Locale() bool {
	for _, d := range []string{"/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// TestDefaultEnvironment: a command gets what a login sets (PATH, HOME,
// USER, LOGNAME and, where the locale exists, LANG), whether Env is nil,
// set without them, or from an exec.Cmd; what Env sets is kept; nothing of
// the host's environment gets in.
func TestDefaultEnvironment(t *testing.T) {
	t.Setenv("CORRAL_HOST_SECRET", "leaked")
	t.Setenv("HOME", "/host/home")
	defaults := []string{"HOME=/work", "LOGNAME=root", "PATH=" + isolate.DefaultPath, "USER=root"}
	if hostHasUTF8Locale() {
		defaults = append(defaults, "LANG=C.UTF-8")
	}
	fromExec := sandbox.FromExec(exec.Command("/usr/bin/env"))
	for _, tc := range []struct {
		name string
		cmd  *sandbox.Cmd
		want []string
	}{
		{"nil Env", sandbox.Command("/usr/bin/env"), defaults},
		{"FromExec", fromExec, defaults},
		{"Env without them", &sandbox.Cmd{Path: "/usr/bin/env", Env: []string{"GREETING=hi"}}, append([]string{"GREETING=hi"}, defaults...)},
		{"Env sets them", &sandbox.Cmd{Path: "/usr/bin/env", Env: []string{"HOME=/tmp", "USER=u", "LOGNAME=", "LANG=C", "PATH=/bin"}},
			[]string{"HOME=/tmp", "LANG=C", "LOGNAME=", "PATH=/bin", "USER=u"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, res := run(t, sandbox.Options{}, tc.cmd)
			if res.ExitCode != 0 {
				t.Fatalf("env: %v (stderr %q)", res, errs)
			}
			got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("environment %q; want %q", got, want)
			}
		})
	}
}

// TestHomeWritable: the default HOME is a directory the command can write,
// where tools keep their caches and settings.
func TestHomeWritable(t *testing.T) {
	out, errs, _ := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", `mkdir -p "$HOME/.cache" && echo ok > "$HOME/.cache/x" && cat "$HOME/.cache/x"`))
	if out != "ok\n" {
		t.Errorf("writing in $HOME: %q (stderr %q); want ok", out, errs)
	}
}

// machineTmpSize is the documented default tmpfs size without a memory
// limit: an eighth of the machine's memory, in whole MiB.
func machineTmpSize(t *testing.T) int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	return int64(si.Totalram) * int64(si.Unit) / 8 &^ (1<<20 - 1)
}

// TestTmpfsDefaultSizes: /tmp, /work, /dev/shm and a Tmpfs of Size 0 are
// each an eighth of the machine's memory, or with Limits.Memory a quarter
// lowered to the limit; an explicit size is kept.
func TestTmpfsDefaultSizes(t *testing.T) {
	machine := machineTmpSize(t)
	if machine <= 96<<20 {
		t.Skipf("an eighth of this machine's memory (%d bytes) is not above the 96 MiB limit the test sets", machine)
	}
	script := `for d in /tmp /work /dev/shm /scratch /small; do stat -f -c '%b %S' $d || exit 1; done`
	for _, tc := range []struct {
		name string
		lim  sandbox.Limits
		want int64
	}{
		{"no limit", sandbox.Limits{}, machine},
		{"memory limit", sandbox.Limits{Memory: 96 << 20}, 96 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := limited(tc.lim)
			opts.Degrade = true
			opts.Mounts = []sandbox.Mount{sandbox.Tmpfs("/scratch", 0), sandbox.Tmpfs("/small", 8<<20)}
			out, errs, res := run(t, opts, sandbox.Command("/bin/sh", "-c", script))
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if res.ExitCode != 0 || len(lines) != 5 {
				t.Fatalf("stat -f: %q, %v (stderr %q)", out, res, errs)
			}
			for i, d := range []string{"/tmp", "/work", "/dev/shm", "/scratch", "/small"} {
				want := tc.want
				if d == "/small" {
					want = 8 << 20
				}
				f := strings.Fields(lines[i])
				blocks, err1 := strconv.ParseInt(f[0], 10, 64)
				bsize, err2 := strconv.ParseInt(f[1], 10, 64)
				if err1 != nil || err2 != nil {
					t.Fatalf("stat -f %s: %q", d, lines[i])
				}
				if got := blocks * bsize; got != want {
					t.Errorf("%s holds %d bytes; want %d", d, got, want)
				}
			}
			if tc.lim.Memory > 0 && res.Cgroup == "" && !slices.ContainsFunc(res.Degraded, func(s string) bool { return strings.HasPrefix(s, "tmpfs:") }) {
				t.Errorf("degraded run (no cgroup) does not say that tmpfs files count in no limit: %q", res.Degraded)
			}
		})
	}
}

// TestSysfsAllowlist: /sys holds the host's CPU, NUMA and transparent huge
// page directories, read-only, and nothing else of sysfs.
func TestSysfsAllowlist(t *testing.T) {
	online, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil || len(online) == 0 {
		t.Skipf("the host shows no /sys/devices/system/cpu/online (%v): nothing to compare with", err)
	}
	hpage, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
	script := `echo "$(cat /sys/devices/system/cpu/online)"
echo "$(cat /sys/kernel/mm/transparent_hugepage/hpage_pmd_size)"
echo $(ls -A /sys)
echo x > /sys/kernel/mm/transparent_hugepage/enabled && echo wrote-thp
touch /sys/x && echo wrote-sys
cat /proc/self/mountinfo`
	out, errs, _ := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", script))
	lines := strings.Split(out, "\n")
	if len(lines) < 4 {
		t.Fatalf("output %q (stderr %q)", out, errs)
	}
	if lines[0] != strings.TrimSpace(string(online)) {
		t.Errorf("/sys/devices/system/cpu/online inside: %q; the host's %q (stderr %q)", lines[0], online, errs)
	}
	if want := strings.TrimSpace(string(hpage)); len(hpage) > 0 && lines[1] != want {
		t.Errorf("hpage_pmd_size inside: %q; the host's %q", lines[1], want)
	}
	if got := strings.Fields(lines[2]); !slices.Equal(got, []string{"devices", "kernel"}) {
		t.Errorf("/sys holds %q; want only devices and kernel", got)
	}
	if strings.Contains(out, "wrote-") {
		t.Errorf("a write in /sys succeeded: %q", out)
	}
	if !strings.Contains(errs, "Read-only file system") {
		t.Errorf("touch /sys/x: stderr %q; want EROFS", errs)
	}
	// As root the host's sysfs files are the caller's by their owner, so
	// only the read-only mount refuses the write.
	if os.Geteuid() == 0 && len(hpage) > 0 && strings.Count(errs, "Read-only file system") < 2 {
		t.Errorf("writing THP's enabled as root: stderr %q; want EROFS", errs)
	}
	// Every mount at or under /sys is read-only.
	var sys []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 6 || f[4] != "/sys" && !strings.HasPrefix(f[4], "/sys/") {
			continue
		}
		sys = append(sys, f[4])
		if !slices.Contains(strings.Split(f[5], ","), "ro") {
			t.Errorf("%s is mounted %s; want ro", f[4], f[5])
		}
	}
	if !slices.Contains(sys, "/sys/devices/system/cpu") {
		t.Errorf("mounts under /sys: %q; want /sys/devices/system/cpu among them", sys)
	}
}
