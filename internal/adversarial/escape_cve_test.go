package adversarial

// Escape cases: the CVEs that hit runc, bubblewrap and other container
// runtimes, each proven closed for Corral.

import (
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

var escCVECases = []escapeCase{
	// CVE-2019-5736: overwrite the runtime's binary (here the host's test
	// binary, the init) through /proc/1/exe or the command's own
	// /proc/self/exe. The init's exe is closed (not dumpable, so hidden); the
	// command's exe is the command (/probe), bound read-only and busy.
	{name: "cve-2019-5736", victim: func([]string) int {
		self, err := os.Readlink("/proc/self/exe")
		if err != nil {
			self = escErr(errors.Unwrap(err))
		}
		return escReport(
			escOpen("/proc/1/exe", unix.O_WRONLY),
			escOpen("/proc/1/exe", unix.O_RDONLY),
			"self="+self,
			escOpen("/proc/self/exe", unix.O_WRONLY),
			escOpen("/probe", unix.O_RDWR),
		)
	}, test: func(t *testing.T, name string) {
		exe, _ := os.Executable()
		before := escHash(t, exe)
		o := escAttack(t, name, escRun{})
		// Root owns the binary, so uid 0 inside may write it: the busy
		// executable refuses first. Rootless, its permissions do.
		busy := escByLane("ETXTBSY", "EACCES")
		escWant(t, o, "EPERM,EPERM,self=/probe,"+busy+","+busy)
		if after := escHash(t, exe); after != before {
			t.Errorf("the host's binary %s was modified", exe)
		}
	}},
	// CVE-2024-21626: a host directory fd of the init leaked into the
	// command's working directory through Cmd.Dir = /proc/self/fd/N (on
	// cgroup v2 the init holds the command's cgroup directory, fd 3, for
	// CLONE_INTO_CGROUP; the child chdirs before exec closes it). Each such
	// run must fail to start or put the command in a directory inside the
	// sandbox; the init's cwd and fds are closed; the command has fds 0-2.
	// Where a run starts outside, the same run without Landlock (LandlockOff,
	// or a kernel without it) shows what the command can reach from there.
	{name: "cve-2024-21626", victim: func([]string) int {
		cwd, err := unix.Getwd()
		if err != nil {
			cwd = escErr(err) // ENOENT: "(unreachable)", outside the root
		}
		var fs unix.Statfs_t
		unix.Statfs(".", &fs)
		_, lerr := os.Readlink("/proc/1/cwd")
		// What a command could do from there: list it and its parent, open
		// (never write) cgroup.procs in both.
		list := func(d string) string {
			entries, err := os.ReadDir(d)
			if err != nil {
				return escErr(errors.Unwrap(err))
			}
			return strconv.Itoa(len(entries))
		}
		return escReport("cwd="+cwd, "fs="+strconv.FormatInt(fs.Type, 16), escErr(errors.Unwrap(lerr)), escInitFDs(),
			"fds="+strings.Join(escFDs(), "+"), "list="+list("."), "write="+escOpen("cgroup.procs", unix.O_WRONLY),
			"up="+list(".."), "upwrite="+escOpen("../cgroup.procs", unix.O_WRONLY))
	}, test: func(t *testing.T, name string) {
		opts := escLimited(sandbox.Limits{Pids: 64}) // the init then holds cgroup fds
		o := escAttack(t, name, escRun{opts: opts})
		tmpfs := strconv.FormatInt(unix.TMPFS_MAGIC, 16)
		procfs := strconv.FormatInt(unix.PROC_SUPER_MAGIC, 16)
		// The parent of /work is the sandbox's /, whose entries vary (up=N).
		if f := strings.Split(o.verdict, ","); len(f) != 9 || strings.Join(f[:7], ",") != "cwd=/work,fs="+tmpfs+",EPERM,init-fds=closed,fds=0+1+2,list=0,write=ENOENT" ||
			f[8] != "upwrite=ENOENT" || !o.res.Success() {
			t.Errorf("verdict %q, want cwd=/work,fs=%s,EPERM,init-fds=closed,fds=0+1+2,list=0,write=ENOENT,up=N,upwrite=ENOENT; %v", o.verdict, tmpfs, o)
		}
		if o.res.Cgroup == "" {
			t.Fatal("the run had no cgroup")
		}
		started := 0
		for fd := 3; fd <= 12; fd++ {
			dir := "/proc/self/fd/" + strconv.Itoa(fd)
			o, err := escTry(t, name, escRun{opts: opts, dir: dir})
			if err != nil {
				var se *sandbox.SetupError
				if !errors.As(err, &se) {
					t.Errorf("Cmd.Dir %s: not a clean failure: %v", dir, err)
				}
				t.Logf("Cmd.Dir %s: %v", dir, err)
				continue
			}
			started++
			// Inside the sandbox: a tmpfs (its root, /tmp, /work), or its
			// own /proc, whose O_PATH fd the init holds with the other
			// Landlock rule paths (the rulesets of runs are built from
			// them); getcwd names both from the sandbox's root.
			f := strings.Split(o.verdict, ",")
			if len(f) == 9 && strings.HasPrefix(f[0], "cwd=/") && (f[1] == "fs="+tmpfs || f[0] == "cwd=/proc" && f[1] == "fs="+procfs) && f[4] == "fds=0+1+2" {
				continue
			}
			t.Errorf("Cmd.Dir %s: the command started in a directory outside the sandbox, on the host: %q", dir, o.verdict)
			off := opts
			off.Landlock = sandbox.LandlockOff
			if o, err := escTry(t, name, escRun{opts: off, dir: dir}); err == nil {
				t.Errorf("Cmd.Dir %s without Landlock: %q", dir, o.verdict)
			}
		}
		t.Logf("%d of 10 runs with Cmd.Dir /proc/self/fd/N started", started)
	}},
	// CVE-2024-21626 with a host directory the init would surely hold: one
	// passed in ExtraFiles. Run refuses a directory among the command's
	// files (its fd would open the host's tree around it), before any
	// sandbox starts, so neither the init nor the command ever holds it.
	// (The getcwd check that stops Cmd.Dir through an fd the init holds
	// is tested by isolate's TestChdirInside and, on cgroup v2, where the
	// init holds the cgroup's directory, by the case above.)
	{name: "cve-2024-21626-passed-dir", victim: func([]string) int {
		return escReport("started")
	}, test: func(t *testing.T, name string) {
		d, err := os.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for _, dir := range []string{"/proc/self/fd/3", "/proc/self/fd/4", ""} {
			o, err := escTry(t, name, escRun{dir: dir, extra: []*os.File{d}})
			var oe *sandbox.OptionError
			if !errors.As(err, &oe) || !strings.Contains(oe.Field, "ExtraFiles") {
				t.Errorf("Cmd.Dir %q with a directory in ExtraFiles: %v (verdict %q), want an *OptionError naming ExtraFiles", dir, err, o.verdict)
			}
		}
	}},
	// CVE-2022-0492: cgroup v1's release_agent runs a program as host root;
	// the attack needs a cgroupfs mounted in a new user and cgroup
	// namespace. Nothing of it is possible, and none is mounted.
	{name: "cve-2022-0492", victim: func([]string) int {
		os.Mkdir("/tmp/cg", 0o755)
		var st unix.Stat_t
		r := []string{
			escErr(unix.Mount("cgroup", "/tmp/cg", "cgroup", 0, "rdma")),
			escErr(unix.Mount("cgroup", "/tmp/cg", "cgroup", 0, "memory")),
			escErrno(testutil.InChild(testutil.Fork, unix.SYS_UNSHARE, unix.CLONE_NEWUSER|unix.CLONE_NEWNS|unix.CLONE_NEWCGROUP)),
			escErrno(testutil.InChild(testutil.Fork, unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP|unix.CLONE_NEWNS)),
			escErr(unix.Stat("/sys/fs/cgroup/memory/release_agent", &st)),
		}
		types := escFSTypes()
		if slices.Contains(types, "cgroup") || slices.Contains(types, "cgroup2") {
			return escReport(append(r, "CGROUPFS-MOUNTED")...)
		}
		return escReport(append(r, "nocgroupfs")...)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM,EPERM,EPERM,ENOENT,nocgroupfs")
	}},
	// CVE-2016-9962: the runtime's own fds (here the init's cgroup files
	// and its socket to the host) leaked to the command. With limits the
	// init holds such fds; the command has 0-2 only, and the init's fds
	// cannot be opened through /proc/1/fd.
	{name: "cve-2016-9962", victim: func([]string) int {
		return escReport("fds="+strings.Join(escFDs(), "+"), escInitFDs())
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{opts: escLimited(sandbox.Limits{Pids: 64, Memory: 64 << 20})})
		escWant(t, o, "fds=0+1+2,init-fds=closed")
		if o.res.Cgroup == "" {
			t.Error("the run had no cgroup, so the init held no cgroup fd to leak")
		}
	}},
	// CVE-2019-16884 and the like: mounting over /proc (or a file in it,
	// such as /proc/self/attr) to defeat its protections. The command
	// cannot mount at all, and Options refuse a mount at /proc.
	{name: "cve-2019-16884-mount-over-proc", victim: func([]string) int {
		return escReport(
			escErr(unix.Mount("tmpfs", "/proc", "tmpfs", 0, "")),
			escErr(unix.Mount("/tmp", "/proc/self/attr", "", unix.MS_BIND, "")),
			escErr(unix.Mount("/tmp", "/proc/sys", "", unix.MS_BIND, "")),
			escErrno(testutil.Syscall(unix.SYS_MOVE_MOUNT, unix.AT_FDCWD, "/tmp", unix.AT_FDCWD, "/proc", 0)),
		)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM,EPERM,EPERM")
		dir := t.TempDir()
		for _, m := range []sandbox.Mount{sandbox.Bind(dir, "/proc/self/attr"), sandbox.Tmpfs("/proc", 0), sandbox.BindWritable(dir, "/proc/sys")} {
			_, err := sandbox.New(sandbox.Options{Mounts: []sandbox.Mount{m}}).Run(sandbox.Command("/bin/true"))
			var oe *sandbox.OptionError
			if !errors.As(err, &oe) || oe.Field != "Options.Mounts[0].Destination" {
				t.Errorf("a mount at %s: %v; want an *OptionError for its Destination", m.Destination, err)
			}
		}
	}},
}

// escHash is the SHA-256 of the file at p.
func escHash(t *testing.T, p string) [32]byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}
