package adversarial

// Escape cases: the filesystem (host files, read-only binds, /proc/self/root,
// symlinks and ".." out of binds, set-up races, hostile custom roots).

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/isolate"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

var escFSCases = []escapeCase{
	// Host files that were not mounted are not there.
	{name: "read-host-tempfile", victim: escReadEach, test: func(t *testing.T, name string) {
		dir := t.TempDir()
		secret := filepath.Join(dir, "secret")
		if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
			t.Fatal(err)
		}
		escWant(t, escAttack(t, name, escRun{args: []string{secret, dir + "/"}}), "ENOENT,ENOENT")
	}},
	{name: "read-etc-shadow", victim: escReadEach, test: func(t *testing.T, name string) {
		if _, err := os.Lstat("/etc/shadow"); err != nil {
			t.Skip("the host has no /etc/shadow")
		}
		// The host's /etc is shown; /etc/shadow in it is masked.
		escWant(t, escAttack(t, name, escRun{args: []string{"/etc/shadow"}}), "EACCES")
	}},
	{name: "read-root-home", victim: escStatEach, test: func(t *testing.T, name string) {
		if _, err := os.Lstat("/root"); err != nil {
			t.Skip("the host has no /root")
		}
		escWant(t, escAttack(t, name, escRun{args: []string{"/root", "/root/.profile"}}), "ENOENT,ENOENT")
	}},
	{name: "read-test-cwd", victim: escStatEach, test: func(t *testing.T, name string) {
		wd, err := os.Getwd()
		if err != nil || wd == "/" {
			t.Fatalf("cwd %q: %v", wd, err)
		}
		entries, err := os.ReadDir(wd)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{wd}
		for _, e := range entries[:min(len(entries), 2)] {
			args = append(args, filepath.Join(wd, e.Name()))
		}
		escWant(t, escAttack(t, name, escRun{args: args}), escRepeat("ENOENT", len(args)))
	}},

	// A read-only bind refuses every kind of write (the mount says so
	// before any permission or Landlock check), and the host dir is as it was.
	{name: "write-ro-bind", victim: func([]string) int {
		const f = "/data/file"
		return escReport(
			escOpen(f, unix.O_WRONLY|unix.O_TRUNC),
			escOpen(f, unix.O_RDWR|unix.O_APPEND),
			escOpen("/data/new", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL),
			escErr(unix.Unlink(f)),
			escErr(unix.Rename(f, "/data/moved")),
			escErr(unix.Chmod(f, 0o777)),
			escErr(unix.Mkdir("/data/dir", 0o755)),
			escErr(unix.Truncate(f, 0)),
			escErr(unix.Symlink("/etc", "/data/link")),
			escErr(unix.Link(f, "/data/hard")),
			escErr(unix.Setxattr(f, "user.corral", []byte("x"), 0)),
			escErr(unix.UtimesNano(f, []unix.Timespec{{}, {}})),
		)
	}, test: func(t *testing.T, name string) {
		dir := escBoundDir(t)
		o := escAttack(t, name, escRun{opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}}})
		escWant(t, o, escRepeat("EROFS", 12))
		escCheckBoundDir(t, dir)
	}},
	// Neither remounting the bind nor clearing its read-only attribute is
	// allowed, nor cloning it as a new (writable) tree; writes still fail.
	{name: "remount-ro-bind-writable", victim: func([]string) int {
		return escReport(
			escErr(unix.Mount("", "/data", "", unix.MS_REMOUNT|unix.MS_BIND, "")),
			escErr(unix.Mount("", "/data", "", unix.MS_REMOUNT, "")),
			escErr(unix.MountSetattr(unix.AT_FDCWD, "/data", 0, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY})),
			escErrno(testutil.Syscall(unix.SYS_OPEN_TREE, unix.AT_FDCWD, "/data", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)),
			escOpen("/data/file", unix.O_WRONLY),
		)
	}, test: func(t *testing.T, name string) {
		dir := escBoundDir(t)
		o := escAttack(t, name, escRun{opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}}})
		escWant(t, o, "EPERM,EPERM,EPERM,EPERM,EROFS")
		escCheckBoundDir(t, dir)
	}},
	// /proc/self/root is the sandbox's root with the same read-only mount,
	// /proc/1/root is closed (the init is not dumpable, so hidden), a read-only fd
	// cannot be reopened for writing through /proc/self/fd, and ".." from
	// /proc/self/root stops at the sandbox's root.
	{name: "write-via-proc-root", victim: func(args []string) int {
		fd, err := unix.Open("/data/file", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return escReport("open:" + escErr(err))
		}
		return escReport(
			escOpen("/proc/self/root/data/file", unix.O_WRONLY),
			escOpen("/proc/1/root/data/file", unix.O_WRONLY),
			escOpen("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY),
			escOpen("/proc/self/root/../../.."+args[0], unix.O_RDONLY),
		)
	}, test: func(t *testing.T, name string) {
		dir := escBoundDir(t)
		secret := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		o := escAttack(t, name, escRun{args: []string{secret}, opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}}})
		escWant(t, o, "EROFS,EPERM,EROFS,ENOENT")
		escCheckBoundDir(t, dir)
	}},
	// A host file of the caller's passed read-only (fd 3) cannot be
	// rewritten by reopening it through /proc/self/fd, nor truncated by
	// that path (Landlock ABI 3: below, the kernel cannot refuse
	// truncate(2) by path); it can be reopened for reading, as its fd
	// allows. Without Landlock all of it would pass: the caller owns the file.
	{name: "rewrite-passed-readonly-file", victim: func(args []string) int {
		p := "/proc/self/fd/3"
		r := []string{escOpen(p, unix.O_RDONLY), escOpen(p, unix.O_WRONLY), escOpen(p, unix.O_RDWR),
			escOpen(p, unix.O_WRONLY|unix.O_APPEND), escOpen(p, unix.O_WRONLY|unix.O_TRUNC)}
		if args[0] == "truncate" {
			r = append(r, escErr(unix.Truncate(p, 0)))
		}
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		abi := escLandlockABI(t)
		file := filepath.Join(t.TempDir(), "passed")
		if err := os.WriteFile(file, []byte("host data"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		arg, want := "no-truncate", "OPENED,EACCES,EACCES,EACCES,EACCES"
		if abi >= 3 {
			arg, want = "truncate", want+",EACCES"
		}
		escWant(t, escAttack(t, name, escRun{args: []string{arg}, extra: []*os.File{f}}), want)
		if b, _ := os.ReadFile(file); string(b) != "host data" {
			t.Errorf("the file passed read-only now holds %q", b)
		}
	}},
	// Symlinks in a bound directory resolve inside the sandbox, never on
	// the host: absolute, relative past the bind, and to /etc/shadow.
	{name: "symlink-out-of-bind", victim: escReadEach, test: func(t *testing.T, name string) {
		top := t.TempDir()
		secret, shared := filepath.Join(top, "secret"), filepath.Join(top, "shared")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		os.Mkdir(shared, 0o755)
		links := map[string]string{
			"abs":    secret,
			"rel":    "../secret",
			"deep":   strings.Repeat("../", 12) + strings.TrimPrefix(secret, "/"),
			"shadow": "/etc/shadow",
		}
		var args []string
		for _, l := range []string{"abs", "rel", "deep", "shadow"} {
			if err := os.Symlink(links[l], filepath.Join(shared, l)); err != nil {
				t.Fatal(err)
			}
			args = append(args, "/data/"+l)
		}
		// The test can fail: on the host the links reach the secret.
		if b, err := os.ReadFile(filepath.Join(shared, "deep")); err != nil || string(b) != "host secret" {
			t.Fatalf("on the host the link does not reach the secret: %q, %v", b, err)
		}
		o := escAttack(t, name, escRun{args: args, opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(shared, "/data")}}})
		// /etc/shadow is masked where the host has one (EACCES).
		escWant(t, o, "ENOENT,ENOENT,ENOENT,ENOENT", "ENOENT,ENOENT,ENOENT,EACCES")
	}},
	// ".." from a bind leads to the sandbox's directories, not to the
	// bind source's parent on the host: by path, from a dir fd, and by
	// walking up with chdir.
	{name: "dotdot-out-of-bind", victim: func(args []string) int {
		secret := args[0]
		dfd, err := unix.Open("/data", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return escReport("open:" + escErr(err))
		}
		at := func(p string) string {
			fd, err := unix.Openat(dfd, p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
				return "OPENED"
			}
			return escErr(err)
		}
		r := []string{
			escOpen("/data/../secret", unix.O_RDONLY),
			escOpen("/data/"+strings.Repeat("../", 16)+strings.TrimPrefix(secret, "/"), unix.O_RDONLY),
			at("../secret"),
			at(strings.Repeat("../", 16) + strings.TrimPrefix(secret, "/")),
		}
		unix.Fchdir(dfd)
		for range 20 {
			unix.Chdir("..")
		}
		wd, _ := unix.Getwd()
		var st unix.Stat_t
		return escReport(append(r, "cwd="+wd, escErr(unix.Stat("secret", &st)))...)
	}, test: func(t *testing.T, name string) {
		top := t.TempDir()
		secret, shared := filepath.Join(top, "secret"), filepath.Join(top, "shared")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		os.Mkdir(shared, 0o755)
		o := escAttack(t, name, escRun{args: []string{secret}, opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(shared, "/data")}}})
		escWant(t, o, "ENOENT,ENOENT,ENOENT,ENOENT,cwd=/,ENOENT")
	}},
	// Race the set-up: while 50 sandboxes (20 in the VM lane) start binding a host path, a
	// goroutine keeps exchanging that path (atomically, renameat2
	// RENAME_EXCHANGE) between the intended directory and a symlink to
	// /etc. Each sandbox must see the intended directory or fail to start;
	// none may see the host's /etc.
	{name: "race-bind-source-symlink", victim: func([]string) int {
		var st unix.Stat_t
		switch {
		case unix.Lstat("/data/passwd", &st) == nil || unix.Lstat("/data/shadow", &st) == nil || unix.Lstat("/data/hostname", &st) == nil:
			b, _ := os.ReadFile("/data/shadow")
			return escReport("HOST-ETC", "shadow="+strconv.Itoa(len(b))+"bytes")
		case unix.Lstat("/data/marker", &st) == nil:
			return escReport("intended")
		}
		entries, _ := os.ReadDir("/data")
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return escReport("other:" + escSafe(strings.Join(names, "+")))
	}, test: escRaceBindSource},
	// A custom root whose /tmp is a symlink to ../../etc and whose /work is
	// an absolute symlink into the host: the mounts and the mountpoints
	// created for them stay inside the root; the host's /etc and the host
	// path the symlink names are untouched.
	{name: "custom-root-symlink-mountpoints", victim: func([]string) int {
		var r []string
		for _, p := range []string{"/tmp", "/work"} {
			var st unix.Statfs_t
			if err := unix.Statfs(p, &st); err != nil {
				r = append(r, p+"="+escErr(err))
			} else if st.Type == unix.TMPFS_MAGIC {
				r = append(r, p+"=tmpfs")
			} else {
				r = append(r, p+"=fs"+strconv.FormatInt(st.Type, 16))
			}
		}
		return escReport(r...)
	}, test: escCustomRootSymlinks},
	{name: "host-dev-shm", victim: escReadEach, test: func(t *testing.T, name string) {
		if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
			t.Skip("the host has no /dev/shm")
		}
		p := fmt.Sprintf("/dev/shm/corral-escape-%d", os.Getpid())
		if err := os.WriteFile(p, []byte("host shm"), 0o644); err != nil {
			t.Skipf("the host's /dev/shm is not writable: %v", err)
		}
		defer os.Remove(p)
		escWant(t, escAttack(t, name, escRun{args: []string{p}}), "ENOENT")
	}},
}

// escBoundDir makes a host directory holding "file" to bind read-only.
func escBoundDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// escCheckBoundDir checks that the directory from escBoundDir is unchanged.
func escCheckBoundDir(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	b, err := os.ReadFile(filepath.Join(dir, "file"))
	st, _ := os.Stat(filepath.Join(dir, "file"))
	if len(names) != 1 || err != nil || string(b) != "original" || st.Mode().Perm() != 0o644 {
		t.Errorf("the read-only bind's source changed: entries %q, file %q (%v), mode %v", names, b, err, st.Mode())
	}
}

func escDirNames(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func escStat(t *testing.T, p string) unix.Stat_t {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// escLandlockABI returns the kernel's Landlock ABI, or skips a case that
// attacks what Landlock alone stops, saying why.
func escLandlockABI(t *testing.T) int {
	t.Helper()
	abi, _ := isolate.LandlockABI()
	if abi == 0 {
		t.Skip("the kernel has no Landlock: a file the caller passes is reopened as its permissions allow (documented)")
	}
	return abi
}
