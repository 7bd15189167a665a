package sandbox_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/corral-dev/corral/sandbox"
	"github.com/moby/sys/mountinfo"
)

func TestHostPathsInvisible(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host data"), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	// (The host's /etc is shown, its secrets hidden: see etc_test.go.)
	for _, p := range []string{secret, filepath.Dir(secret), "/root", "/home", "/var", "/sys/firmware", "/sys/class", "/sys/fs", "/sys/kernel/debug", "/sys/kernel/security", wd, "/boot"} {
		c := sandbox.Command("/bin/sh", "-c", `if test -e "$1"; then echo VISIBLE; else echo absent; fi`, "sh", p)
		got, _, _ := run(t, sandbox.Options{}, c)
		if got != "absent\n" {
			t.Errorf("host path %s is visible inside", p)
		}
	}
	// The test can fail: bound, the secret is visible.
	got := sh(t, sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(filepath.Dir(secret), "/data")}}, `cat /data/secret`)
	if got != "host data" {
		t.Errorf("bound file reads %q", got)
	}
}

func TestReadOnlyAndWritableBinds(t *testing.T) {
	ro, rw := t.TempDir(), t.TempDir()
	opts := sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(ro, "/ro"), sandbox.BindWritable(rw, "/rw")}}
	out := sh(t, opts, `
		touch /ro/x 2>&1 || true
		mkdir /ro/d 2>&1 || true
		echo written > /rw/out
		touch /usr/x 2>&1 || true
		touch /x 2>&1 || true
		touch /etc/x 2>&1 || true
		echo ok > /tmp/t && echo ok > /work/w && cat /tmp/t /work/w`)
	if n := strings.Count(out, "Read-only file system"); n != 5 {
		t.Errorf("want 5 writes refused as read-only, got %d:\n%s", n, out)
	}
	if !strings.HasSuffix(out, "ok\nok\n") {
		t.Errorf("/tmp or /work not writable:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "written\n" {
		t.Errorf("write through the writable bind: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(ro); len(entries) != 0 {
		t.Errorf("the read-only bind was written: %v", entries)
	}
}

func TestTmpfsSizeLimit(t *testing.T) {
	opts := sandbox.Options{Mounts: []sandbox.Mount{sandbox.Tmpfs("/scratch", 1<<20)}}
	out := sh(t, opts, `dd if=/dev/zero of=/scratch/f bs=64k count=64 2>&1 || echo FULL; stat -c %s /scratch/f`)
	if !strings.Contains(out, "No space left on device") || !strings.Contains(out, "FULL") {
		t.Errorf("a 1 MiB tmpfs took 4 MiB:\n%s", out)
	}
	// The default /tmp has a limit too: TestTmpfsDefaultSizes.
}

// TestMountTable reads the sandbox's own mount table and checks every mount.
func TestMountTable(t *testing.T) {
	out := sh(t, sandbox.Options{}, `cat /proc/self/mountinfo`)
	mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(out), nil)
	if err != nil {
		t.Fatal(err)
	}
	byPoint := map[string]*mountinfo.Info{}
	for _, m := range mounts {
		byPoint[m.Mountpoint] = m
		opts := "," + m.Options + ","
		if !strings.Contains(opts, ",nosuid,") {
			t.Errorf("%s is not nosuid (%s)", m.Mountpoint, m.Options)
		}
		if !strings.HasPrefix(m.Mountpoint, "/dev/") && m.Mountpoint != "/dev" && !strings.Contains(opts, ",nodev,") {
			t.Errorf("%s is not nodev (%s)", m.Mountpoint, m.Options)
		}
	}
	for _, p := range []string{"/", "/usr", "/proc/sys", "/sys", "/sys/devices/system/cpu"} {
		m := byPoint[p]
		if m == nil {
			t.Errorf("no mount at %s", p)
			continue
		}
		if !strings.Contains(","+m.Options+",", ",ro,") {
			t.Errorf("%s is writable (%s)", p, m.Options)
		}
	}
	for _, p := range []string{"/tmp", "/work", "/dev/shm"} {
		if m := byPoint[p]; m == nil || m.FSType != "tmpfs" || strings.Contains(","+m.Options+",", ",ro,") {
			t.Errorf("%s: want a writable tmpfs, got %+v", p, m)
		}
	}
	if m := byPoint["/proc"]; m == nil || m.FSType != "proc" {
		t.Errorf("/proc: want a fresh proc, got %+v", m)
	}
	// Only the plan's mounts: the host's (the rest of /sys, /run, /home,
	// /boot, cgroup filesystems) must not have come along.
	for _, m := range mounts {
		p := m.Mountpoint
		if slices.Contains([]string{"/sys", "/sys/devices/system/cpu", "/sys/devices/system/node", "/sys/kernel/mm/transparent_hugepage"}, p) {
			continue // /sys's allow-list, exactly
		}
		if !slices.ContainsFunc([]string{"/", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc", "/proc", "/dev", "/tmp", "/work"},
			func(d string) bool { return p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") && d != "/" }) {
			t.Errorf("unexpected mount inside: %s (%s)", p, m.FSType)
		}
	}
	// About 50 on Debian: the plan has one per system directory, /etc with its
	// masks and generated files, /proc with its hardening, /dev, /sys.
	if len(mounts) > 60 {
		t.Errorf("%d mounts inside; the host's mount table leaked in?", len(mounts))
	}
}

func TestProcHardening(t *testing.T) {
	// Kernel knobs refuse writes; kernel internals cannot be read. Where the
	// kernel already hides an entry from a user namespace, absent is fine.
	out := sh(t, sandbox.Options{}, `
		for f in /proc/sys/kernel/hostname /proc/sys/vm/drop_caches /proc/sysrq-trigger; do
			{ echo 1 > $f; } 2>/dev/null && echo "WROTE $f"
		done
		for f in /proc/kcore /proc/keys /proc/timer_list /proc/kallsyms /proc/kpageflags /proc/kpagecount /proc/slabinfo /proc/vmallocinfo /proc/config.gz; do
			test -s $f && [ "$(head -c 16 $f 2>/dev/null | wc -c)" != 0 ] && echo "READ $f"
		done; true`)
	if out != "" {
		t.Errorf("/proc is not hardened:\n%s", out)
	}
	if got := sh(t, sandbox.Options{}, `cat /proc/sys/kernel/ostype`); got != "Linux\n" {
		t.Errorf("/proc/sys is not readable: %q", got)
	}
}

func TestCustomRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "marker"), []byte("custom root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The root's own symlinks are resolved inside it, never on the host.
	if err := os.Symlink("/etc", filepath.Join(root, "hostetc")); err != nil {
		t.Fatal(err)
	}
	var ms []sandbox.Mount
	for _, d := range []string{"/usr", "/lib", "/lib64", "/bin"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			ms = append(ms, sandbox.Bind(d, d))
		}
	}
	out := sh(t, sandbox.Options{Root: root, Mounts: ms}, `cat /marker; ls /; ls /hostetc 2>&1 || true; touch /new 2>&1 || true`)
	if !strings.HasPrefix(out, "custom root\n") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("custom root:\n%s", out)
	}
	if strings.Contains(out, "passwd") {
		t.Errorf("a symlink in the root reached the host's /etc:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, "new")); err == nil {
		t.Error("the custom root was written")
	}
}

// TestNestedMountOrder: a read-only bind inside a writable one stays
// read-only, and a list that would hide a mount under a later one is refused.
func TestNestedMountOrder(t *testing.T) {
	proj := t.TempDir()
	git := filepath.Join(proj, ".git")
	if err := os.MkdirAll(filepath.Join(git, "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"", customRoot(t)} {
		opts := sandbox.Options{Root: root, Mounts: []sandbox.Mount{sandbox.BindWritable(proj, "/proj"), sandbox.Bind(git, "/proj/.git")}}
		if root != "" {
			opts.Mounts = append(systemBinds(), opts.Mounts...)
		}
		out := sh(t, opts, `{ echo pwned > /proj/.git/hooks/pre-commit; } 2>&1; echo ok > /proj/file`)
		if !strings.Contains(out, "Read-only file system") {
			t.Errorf("root %q: write into the nested read-only bind: %q", root, out)
		}
		if _, err := os.Stat(filepath.Join(git, "hooks", "pre-commit")); err == nil {
			t.Fatalf("root %q: the nested read-only bind was written through", root)
		}
		os.Remove(filepath.Join(proj, "file"))
	}
	_, err := newSandbox(t, sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(git, "/proj/.git"), sandbox.BindWritable(proj, "/proj")}}).Run(sandbox.Command("/bin/true"))
	var oe *sandbox.OptionError
	if !errors.As(err, &oe) || oe.Field != "Options.Mounts[1].Destination" {
		t.Errorf("a mount listed after one it contains: %v", err)
	}
}

// TestMountsReplaceDefaults: a mount at or above a default replaces it,
// and destinations through merged-/usr symlinks work.
func TestMountsReplaceDefaults(t *testing.T) {
	dev := t.TempDir()
	opts := sandbox.Options{Mounts: []sandbox.Mount{
		sandbox.Tmpfs("/etc", 0),
		sandbox.BindWritable(dev, "/dev"),
		sandbox.Bind("/usr/bin/false", "/bin/true"), // /bin is usr/bin on a merged-/usr host
	}}
	out, errs, res := run(t, opts, sandbox.Command("/usr/bin/sh", "-c", `ls -A /etc | wc -l; ls -A /dev | wc -l; /bin/true || echo replaced`))
	if !res.Success() || out != "0\n0\nreplaced\n" {
		t.Errorf("got %v %q %q", res, out, errs)
	}
	if entries, _ := os.ReadDir(dev); len(entries) != 0 {
		t.Errorf("the default /dev entries were created in the host directory bound there: %v", entries)
	}
}

func TestDevicesReadOnly(t *testing.T) {
	out := sh(t, sandbox.Options{}, `echo x > /dev/null && head -c 4 /dev/zero | wc -c
		for d in /dev/null /dev/full /dev/zero /dev/tty; do chmod 0600 $d 2>/dev/null && echo "CHMOD $d"; touch $d 2>/dev/null && echo "TOUCH $d"; done; true`)
	if out != "4\n" {
		t.Errorf("device nodes: %q; want usable devices whose inodes cannot change", out)
	}
}

// customRoot makes a root directory with only a marker in it.
func customRoot(t *testing.T) string {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "marker"), []byte("custom root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// systemBinds are read-only binds of the host's system directories, for a custom root.
func systemBinds() []sandbox.Mount {
	var ms []sandbox.Mount
	for _, d := range []string{"/usr", "/lib", "/lib64", "/bin"} {
		if st, err := os.Lstat(d); err == nil && st.IsDir() {
			ms = append(ms, sandbox.Bind(d, d))
		} else if err == nil {
			ms = append(ms, sandbox.Bind("/usr"+d, d))
		}
	}
	return ms
}
