package adversarial

// Escape attempts, continued: kernel interfaces, namespaces, the terminal,
// leaks of host state, resource exhaustion and the container CVEs. See
// escapes_test.go for the runner.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

var escapeCases2 = []escapeCase{
	// --- mounts and kernel interfaces ---

	// /proc cannot be mounted again, remounted, or uncovered (its
	// read-only /proc/sys bind removed).
	{name: "remount-proc", victim: func([]string) int {
		os.Mkdir("/tmp/p", 0o755)
		return escReport(
			escErr(unix.Mount("proc", "/proc", "proc", 0, "")),
			escErr(unix.Mount("proc", "/tmp/p", "proc", 0, "")),
			escErr(unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND, "")),
			escErr(unix.Unmount("/proc/sys", unix.MNT_DETACH)),
		)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM,EPERM,EPERM")
	}},
	{name: "mount-sysfs", victim: func([]string) int {
		os.Mkdir("/tmp/sys", 0o755)
		return escReport(
			escErr(unix.Mount("sysfs", "/tmp/sys", "sysfs", 0, "")),
			escErrno(escSys(unix.SYS_FSOPEN, "sysfs", 0)),
		)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM")
	}},
	// Kernel knobs: opened for writing (never written), refused by the
	// read-only /proc/sys mount; rootless, uid 0 inside is not root
	// outside and the file's permissions refuse first.
	{name: "write-proc-sys-kernel", victim: escOpenEach(unix.O_WRONLY), test: func(t *testing.T, name string) {
		var args []string
		for _, p := range []string{"/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/hostname",
			"/proc/sys/vm/drop_caches", "/proc/sys/kernel/panic_on_oops"} {
			if _, err := os.Stat(p); err == nil {
				args = append(args, p)
			}
		}
		corePattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
		hostname, _ := os.ReadFile("/proc/sys/kernel/hostname")
		o := escAttack(t, name, escRun{args: args})
		escWant(t, o, escRepeat(escByLane("EROFS", "EACCES"), len(args)))
		if b, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); !bytes.Equal(b, corePattern) {
			t.Errorf("the host's core_pattern changed: %q -> %q", corePattern, b)
		}
		if b, _ := os.ReadFile("/proc/sys/kernel/hostname"); !bytes.Equal(b, hostname) {
			t.Errorf("the host's hostname changed: %q -> %q", hostname, b)
		}
	}},
	{name: "write-sysrq-trigger", victim: escOpenEach(unix.O_WRONLY), test: func(t *testing.T, name string) {
		if _, err := os.Lstat("/proc/sysrq-trigger"); err != nil {
			t.Skip("the host's kernel has no /proc/sysrq-trigger")
		}
		escWant(t, escAttack(t, name, escRun{args: []string{"/proc/sysrq-trigger"}}), escByLane("EROFS", "EACCES"))
	}},
	{name: "sys-absent", victim: func(args []string) int {
		var r []string
		for _, p := range args {
			var st unix.Stat_t
			r = append(r, escErr(unix.Lstat(p, &st)))
		}
		if slices.Contains(escFSTypes(), "sysfs") {
			r = append(r, "SYSFS-MOUNTED")
		} else {
			r = append(r, "nosysfs")
		}
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		if _, err := os.Stat("/sys/kernel"); err != nil {
			t.Skip("the host has no sysfs at /sys")
		}
		o := escAttack(t, name, escRun{args: []string{"/sys", "/sys/kernel/uevent_helper", "/sys/fs/cgroup"}})
		escWant(t, o, "ENOENT,ENOENT,ENOENT,nosysfs")
	}},
	// The cgroup files of the sandbox's own cgroup, by the path inside and
	// by the host's path, are not there: no cgroupfs is mounted.
	{name: "cgroupfs-absent", victim: func(args []string) int {
		own, _ := os.ReadFile("/proc/self/cgroup")
		lines := append(strings.Split(strings.TrimSpace(string(own)), "\n"), args...)
		errs := map[string]bool{}
		for _, l := range lines {
			f := strings.SplitN(l, ":", 3)
			if len(f) != 3 {
				continue
			}
			for _, p := range []string{
				filepath.Join("/sys/fs/cgroup", f[2], "cgroup.procs"),
				filepath.Join("/sys/fs/cgroup", f[1], f[2], "cgroup.procs"),
				filepath.Join("/sys/fs/cgroup", f[1], f[2], "tasks"),
			} {
				errs[escOpen(p, unix.O_WRONLY)] = true
			}
		}
		r := slices.Sorted(func(yield func(string) bool) {
			for e := range errs {
				if !yield(e) {
					return
				}
			}
		})
		types := escFSTypes()
		if slices.Contains(types, "cgroup") || slices.Contains(types, "cgroup2") {
			r = append(r, "CGROUPFS-MOUNTED")
		} else {
			r = append(r, "nocgroupfs")
		}
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		host, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			t.Skip("the host's kernel has no cgroups")
		}
		o := escAttack(t, name, escRun{args: strings.Split(strings.TrimSpace(string(host)), "\n")})
		escWant(t, o, "ENOENT,nocgroupfs")
	}},
	// With limits there is a cgroup; the command cannot mount a cgroupfs to
	// leave it, nor make a cgroup namespace, and a fork bomb afterwards is
	// still held at its pids limit: it never left.
	{name: "cgroup-move-out", victim: func([]string) int {
		os.Mkdir("/tmp/cg", 0o755)
		return escReport(
			escErr(unix.Mount("cgroup2", "/tmp/cg", "cgroup2", 0, "")),
			escErr(unix.Mount("cgroup", "/tmp/cg", "cgroup", 0, "pids")),
			escErrno(escSys(unix.SYS_FSOPEN, "cgroup2", 0)),
			escErrno(escInChild(escFork, unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP)),
			escOpen("/sys/fs/cgroup/cgroup.procs", unix.O_WRONLY),
		)
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{opts: escLimited(sandbox.Limits{Pids: 16, Time: 10 * time.Second}), shell: `
			/probe || exit 1
			( i=0; while [ $i -lt 64 ]; do sleep 30 & i=$((i+1)); done ) 2>/dev/null
			n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "PROCS $n"`})
		escWant(t, o, "EPERM,EPERM,EPERM,EPERM,ENOENT")
		var n int
		fmt.Sscanf(o.stdout[strings.Index(o.stdout, "PROCS "):], "PROCS %d", &n)
		if o.res.Cgroup == "" || !o.res.PidsLimitHit || n == 0 || n > 17 {
			t.Errorf("after the attempt: cgroup %q, pids limit hit %v, %d processes (want at most 16 and the init)", o.res.Cgroup, o.res.PidsLimitHit, n)
		}
	}},
	// Device nodes need CAP_MKNOD in the host's user namespace. In /dev
	// (a writable tmpfs) Landlock, where the kernel has it, refuses first:
	// its rules allow only the device nodes already there.
	{name: "mknod-device", victim: func([]string) int {
		return escReport(
			escErr(unix.Mknod("/tmp/sda", unix.S_IFBLK|0o600, int(unix.Mkdev(8, 0)))),
			escErr(unix.Mknod("/tmp/mem", unix.S_IFCHR|0o600, int(unix.Mkdev(1, 1)))),
			escErr(unix.Mknod("/dev/kmsg", unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11)))),
		)
	}, test: func(t *testing.T, name string) {
		inDev := "EPERM"
		if f, _ := sandbox.Check().Feature("landlock"); f.Available {
			inDev = "EACCES"
		}
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM,"+inDev)
	}},
	// The host's block devices are not in the sandbox's /dev, which holds
	// only the few devices Corral binds.
	{name: "raw-block-device", victim: func(args []string) int {
		var r []string
		for _, p := range args {
			r = append(r, escOpen(p, unix.O_RDONLY))
		}
		entries, _ := os.ReadDir("/dev")
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return escReport(append(r, "dev="+strings.Join(names, "+"))...)
	}, test: func(t *testing.T, name string) {
		entries, _ := os.ReadDir("/dev")
		var blocks []string
		for _, e := range entries {
			if e.Type()&os.ModeDevice != 0 && e.Type()&os.ModeCharDevice == 0 {
				blocks = append(blocks, "/dev/"+e.Name())
			}
		}
		if len(blocks) == 0 {
			t.Skip("the host has no block device in /dev")
		}
		dev := []string{"fd", "ptmx", "pts", "shm", "stderr", "stdin", "stdout"}
		for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
			if _, err := os.Stat("/dev/" + d); err == nil {
				dev = append(dev, d)
			}
		}
		slices.Sort(dev)
		o := escAttack(t, name, escRun{args: blocks})
		escWant(t, o, escRepeat("ENOENT", len(blocks))+",dev="+strings.Join(dev, "+"))
	}},
	// Kernel memory: /proc/kcore and /proc/kallsyms are masked (a nodev
	// /dev/null, which cannot be opened), the memory devices absent.
	{name: "read-kernel-memory", victim: escOpenEach(unix.O_RDONLY), test: func(t *testing.T, name string) {
		var want []string
		for _, p := range []string{"/proc/kcore", "/proc/kallsyms"} {
			if _, err := os.Lstat(p); err == nil {
				want = append(want, "EACCES")
			} else {
				want = append(want, "ENOENT") // the kernel has none
			}
		}
		args := []string{"/proc/kcore", "/proc/kallsyms", "/dev/mem", "/dev/kmem", "/dev/port"}
		escWant(t, escAttack(t, name, escRun{args: args}), strings.Join(want, ",")+",ENOENT,ENOENT,ENOENT")
	}},
	// The kernel log: no /dev/kmsg, and syslog(2) is refused by the filter
	// (the kernel would allow it where dmesg_restrict is 0).
	{name: "read-kernel-log", victim: func([]string) int {
		buf := make([]byte, 4096)
		return escReport(
			escOpen("/dev/kmsg", unix.O_RDONLY),
			escErrno(escSys(unix.SYS_SYSLOG, unix.SYSLOG_ACTION_READ_ALL, unsafe.Pointer(&buf[0]), len(buf))),
			escErrno(escSys(unix.SYS_SYSLOG, unix.SYSLOG_ACTION_SIZE_BUFFER, 0, 0)),
		)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "ENOENT,EPERM,EPERM")
	}},
	// A two-instruction socket filter (r0 = 0; exit) and a one-entry array map.
	{name: "load-bpf", victim: func([]string) int {
		insns := [2]uint64{0x000000b7, 0x00000095} // BPF_MOV64_IMM(r0, 0), BPF_EXIT
		license := []byte("GPL\x00")
		var prog [18]uint32 // union bpf_attr for BPF_PROG_LOAD, 72 bytes
		prog[0], prog[1] = unix.BPF_PROG_TYPE_SOCKET_FILTER, 2
		*(*uint64)(unsafe.Pointer(&prog[2])) = uint64(uintptr(unsafe.Pointer(&insns[0])))
		*(*uint64)(unsafe.Pointer(&prog[4])) = uint64(uintptr(unsafe.Pointer(&license[0])))
		mapAttr := [5]uint32{unix.BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0}
		e1 := escSys(unix.SYS_BPF, unix.BPF_PROG_LOAD, unsafe.Pointer(&prog[0]), int(unsafe.Sizeof(prog)))
		e2 := escSys(unix.SYS_BPF, unix.BPF_MAP_CREATE, unsafe.Pointer(&mapAttr[0]), int(unsafe.Sizeof(mapAttr)))
		runtime.KeepAlive(&insns)
		runtime.KeepAlive(license)
		return escReport(escErrno(e1), escErrno(e2))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM")
	}},
	{name: "load-kernel-module", victim: func([]string) int {
		image := []byte("\x7fELF\x02\x01\x01\x00not a module")
		fd, err := unix.Open("/probe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return escReport("open:" + escErr(err))
		}
		return escReport(
			escErrno(escSys(unix.SYS_INIT_MODULE, unsafe.Pointer(&image[0]), len(image), "")),
			escErrno(escSys(unix.SYS_FINIT_MODULE, fd, "", 0)),
			escErrno(escSys(unix.SYS_DELETE_MODULE, "loop", unix.O_NONBLOCK)),
		)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM,EPERM")
	}},
	// io_uring (a large attack surface, and a way around the filter's view
	// of system calls) and perf events are refused by the filter.
	{name: "io-uring", victim: func([]string) int {
		var params [120]byte
		return escReport(escErrno(escSys(unix.SYS_IO_URING_SETUP, 4, unsafe.Pointer(&params[0]))))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM")
	}},
	{name: "perf-event-open", victim: func([]string) int {
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Size: unix.PERF_ATTR_SIZE_VER0}
		return escReport(escErrno(escSys(unix.SYS_PERF_EVENT_OPEN, unsafe.Pointer(&attr), -1, 0, -1, 0))) // every process on CPU 0
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM")
	}},
	// "Shocker": open a host inode by a forged file handle (ext4's root
	// directory, inode 2) from a descriptor of the mount.
	{name: "open-by-handle-shocker", victim: func([]string) int {
		mfd, err := unix.Open("/probe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return escReport("open:" + escErr(err))
		}
		h := unix.NewFileHandle(1, []byte{2, 0, 0, 0, 0, 0, 0, 0}) // FILEID_INO32_GEN, inode 2, generation 0
		fd, err := unix.OpenByHandleAt(mfd, h, unix.O_RDONLY)
		if err == nil {
			unix.Close(fd)
		}
		return escReport(escErr(err))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM")
	}},

	// --- namespaces ---

	{name: "unshare-newuser", victim: func([]string) int {
		return escReport(escErrno(escInChild(escFork, unix.SYS_UNSHARE, unix.CLONE_NEWUSER)))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM")
	}},
	{name: "clone-newuser", victim: func([]string) int {
		return escReport(escErrno(escInChild([3]uintptr{unix.SYS_CLONE, unix.CLONE_NEWUSER | uintptr(unix.SIGCHLD), 0}, unix.SYS_GETPID, 0)))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM")
	}},
	// clone3's flags are behind a pointer, out of the filter's reach: the
	// sandbox's user.max_user_namespaces of 0 refuses it (ENOSPC).
	{name: "clone3-newuser", victim: func([]string) int {
		escCloneArgs[0], escCloneArgs[4] = unix.CLONE_NEWUSER, uint64(unix.SIGCHLD)
		return escReport(escErrno(escInChild([3]uintptr{unix.SYS_CLONE3, uintptr(unsafe.Pointer(&escCloneArgs)), 88}, unix.SYS_GETPID, 0)))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "ENOSPC")
	}},
	{name: "unshare-other-namespaces", victim: func([]string) int {
		var r []string
		for _, f := range []uintptr{unix.CLONE_NEWNS, unix.CLONE_NEWNET, unix.CLONE_NEWPID, unix.CLONE_NEWUTS,
			unix.CLONE_NEWIPC, unix.CLONE_NEWCGROUP, unix.CLONE_NEWTIME} {
			r = append(r, escErrno(escInChild(escFork, unix.SYS_UNSHARE, f)))
		}
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), escRepeat("EPERM", 7))
	}},
	// The init's namespace files are closed (it is not dumpable), and setns
	// is refused by the filter anyway.
	{name: "setns-init", victim: func([]string) int {
		var r []string
		for _, ns := range []string{"mnt", "user", "net", "pid"} {
			r = append(r, escOpen("/proc/1/ns/"+ns, unix.O_RDONLY))
		}
		fd, err := unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return escReport(append(r, "open:"+escErr(err))...)
		}
		return escReport(append(r, escErr(unix.Setns(fd, unix.CLONE_NEWNET)))...)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EACCES,EACCES,EACCES,EACCES,EPERM")
	}},

	// --- the terminal ---

	// CVE-2017-5226: TIOCSTI pushes input into the terminal the command was
	// given, to be read by the host's shell after the command ends. Refused
	// with and without making it the controlling terminal; nothing reaches
	// the terminal's input or its echo.
	{name: "cve-2017-5226-tiocsti", victim: func([]string) int {
		c := byte('!')
		e1 := escSys(unix.SYS_IOCTL, 0, unix.TIOCSTI, unsafe.Pointer(&c))
		unix.IoctlSetInt(0, unix.TIOCSCTTY, 0)
		e2 := escSys(unix.SYS_IOCTL, 0, unix.TIOCSTI, unsafe.Pointer(&c))
		e3 := escSys(unix.SYS_IOCTL, 0, uintptr(1<<32|unix.TIOCSTI), unsafe.Pointer(&c))
		return escReport(escErrno(e1), escErrno(e2), escErrno(e3))
	}, test: func(t *testing.T, name string) {
		ptm, pts := testutil.OpenPTY(t)
		o := escAttack(t, name, escRun{stdin: pts})
		escWant(t, o, "EPERM,EPERM,EPERM")
		time.Sleep(50 * time.Millisecond) // echo reaches the master through a workqueue
		for _, f := range []*os.File{ptm, pts} {
			if n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ); err != nil || n != 0 {
				t.Errorf("%s: %d bytes waiting (%v): input was injected into the host's terminal", f.Name(), n, err)
			}
		}
	}},
	// The sandbox's /dev/pts is a new devpts instance: the host's terminals
	// are not in it, and the command has no controlling terminal.
	{name: "host-pty", victim: func(args []string) int {
		entries, _ := os.ReadDir("/dev/pts")
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return escReport(escOpen(args[0], unix.O_RDWR|unix.O_NOCTTY), escOpen("/dev/tty", unix.O_RDWR), "pts="+strings.Join(names, "+"))
	}, test: func(t *testing.T, name string) {
		_, pts := testutil.OpenPTY(t)
		escWant(t, escAttack(t, name, escRun{args: []string{pts.Name()}}), "ENOENT,ENXIO,pts=ptmx")
	}},

	// --- leaks of host state ---

	// fds the host opened without O_CLOEXEC (a file, a directory, a pipe)
	// do not reach the command, nor does any other but 0, 1 and 2.
	{name: "leak-host-fd", victim: func([]string) int {
		return escReport("fds=" + strings.Join(escFDs(), "+"))
	}, test: func(t *testing.T, name string) {
		dir := t.TempDir()
		secret := filepath.Join(dir, "secret")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		var fds []int
		for _, p := range []string{secret, dir} {
			fd, err := syscall.Open(p, syscall.O_RDONLY, 0) // no O_CLOEXEC, as C code might
			if err != nil {
				t.Fatal(err)
			}
			fds = append(fds, fd)
		}
		var pipe [2]int
		if err := syscall.Pipe(pipe[:]); err != nil {
			t.Fatal(err)
		}
		fds = append(fds, pipe[:]...)
		defer func() {
			for _, fd := range fds {
				syscall.Close(fd)
			}
		}()
		t.Logf("host fds without close-on-exec: %v", fds)
		escWant(t, escAttack(t, name, escRun{}), "fds=0+1+2")
	}},
	// The host's environment is not the command's, and the init's (which
	// holds only Corral's marker) cannot be read.
	{name: "host-environment", victim: func([]string) int {
		var names []string
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, k)
		}
		slices.Sort(names)
		self, _ := os.ReadFile("/proc/self/environ")
		found := "clean"
		if bytes.Contains(self, []byte("CORRAL_ESCAPE_SECRET")) {
			found = "LEAKED"
		}
		return escReport("env="+strings.Join(names, "+"), escOpen("/proc/1/environ", unix.O_RDONLY), found)
	}, test: func(t *testing.T, name string) {
		t.Setenv("CORRAL_ESCAPE_SECRET", "host-secret")
		t.Setenv("HOME", "/root/host-home")
		escWant(t, escAttack(t, name, escRun{}), "env=CORRAL_ATTACK+PATH,EACCES,clean")
	}},
	// The host name is the sandbox's own, and cannot be changed.
	{name: "host-hostname", victim: func([]string) int {
		var u unix.Utsname
		unix.Uname(&u)
		proc, _ := os.ReadFile("/proc/sys/kernel/hostname")
		return escReport(
			unix.ByteSliceToString(u.Nodename[:]), strings.TrimSpace(string(proc)),
			escErr(unix.Sethostname([]byte("pwned"))), escErr(unix.Setdomainname([]byte("pwned"))),
		)
	}, test: func(t *testing.T, name string) {
		host, _ := os.Hostname()
		if host == "corral" {
			t.Skip("the host is itself named corral: the sandbox's name cannot be told apart")
		}
		escWant(t, escAttack(t, name, escRun{}), "corral,corral,EPERM,EPERM")
		if now, _ := os.Hostname(); now != host {
			t.Errorf("the host's name changed: %q -> %q", host, now)
		}
	}},
	// A crash inside dumps no core: RLIMIT_CORE is 0 and cannot be raised;
	// no core file appears in the sandbox or on the host, and the host's
	// core_pattern is unchanged.
	{name: "core-dump", victim: func([]string) int {
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_CORE, &rl)
		raise := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
		return escReport(fmt.Sprintf("core=%d/%d", rl.Cur, rl.Max), escErr(raise))
	}, test: func(t *testing.T, name string) {
		pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
		wd, _ := os.Getwd()
		places := []string{wd, os.TempDir(), "/tmp", "/var/crash", "/var/lib/systemd/coredump"}
		before := escCores(places)
		o := escAttack(t, name, escRun{shell: `
			/probe || exit 1
			sh -c 'kill -SEGV $$'; echo "CRASH $?"
			ls -A /work /tmp /`})
		escWant(t, o, "core=0/0,EPERM")
		if !strings.Contains(o.stdout, "CRASH 139") {
			t.Errorf("the crash did not happen: %q", o.stdout)
		}
		for _, l := range strings.Split(o.stdout, "\n") {
			if strings.HasPrefix(l, "core") {
				t.Errorf("a core file was dumped inside: %q", l)
			}
		}
		if b, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); !bytes.Equal(b, pattern) {
			t.Errorf("the host's core_pattern changed: %q -> %q", pattern, b)
		}
		if after := escCores(places); !slices.Equal(before, after) {
			t.Errorf("core files on the host: %q before, %q after", before, after)
		}
		t.Logf("host core_pattern %q", bytes.TrimSpace(pattern))
	}},

	// --- resource exhaustion ---

	// A real fork bomb (every process forks for ever, in raw clones) under
	// Limits.Pids: forks fail with EAGAIN inside, and the host can still fork.
	{name: "fork-bomb", victim: func([]string) int {
		runtime.GOMAXPROCS(1) // the runtime must need no new thread at the limit
		pid, _, e := unix.RawSyscall(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0)
		if e != 0 {
			return escReport("clone:" + escErrno(e))
		}
		if pid == 0 {
			for {
				unix.RawSyscall(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0)
			}
		}
		ts := unix.Timespec{Nsec: 300e6}
		unix.Nanosleep(&ts, nil)
		e = escInChild(escFork, unix.SYS_GETPID, 0)
		procs, _ := filepath.Glob("/proc/[0-9]*")
		unix.Kill(-1, unix.SIGKILL) // the bomb; not this process, not the init
		return escReport(escErrno(e), "procs="+strconv.Itoa(len(procs)))
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{opts: escLimited(sandbox.Limits{Pids: 32, Time: 10 * time.Second})})
		var procs int
		fmt.Sscanf(o.verdict, "EAGAIN,procs=%d", &procs)
		if !strings.HasPrefix(o.verdict, "EAGAIN,procs=") || procs < 2 || procs > 33 || !o.res.Success() {
			t.Errorf("verdict %q, want EAGAIN and at most 32 processes and the init; %v", o.verdict, o)
		}
		if !o.res.PidsLimitHit || o.res.Limit != sandbox.LimitPids {
			t.Errorf("pids limit hit %v, limit %q; want true, pids", o.res.PidsLimitHit, o.res.Limit)
		}
		if err := exec.Command("sh", "-c", "exit 0").Run(); err != nil {
			t.Errorf("the host cannot fork after the bomb: %v", err)
		}
	}},
	{name: "memory-bomb", victim: func([]string) int {
		escReport("allocating")
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			escHoard = append(escHoard, b) // kept, so the collector frees nothing
		}
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{opts: escLimited(sandbox.Limits{Memory: 32 << 20, Time: 10 * time.Second})})
		if o.verdict != "allocating" || !o.res.OOMKilled || o.res.Limit != sandbox.LimitMemory || o.res.Signal != syscall.SIGKILL {
			t.Errorf("memory bomb under 32 MiB: verdict %q, OOM killed %v; want the OOM killer; %v", o.verdict, o.res.OOMKilled, o)
		}
		if o.res.MemoryPeak > 33<<20 {
			t.Errorf("memory peak %d above the 32 MiB limit", o.res.MemoryPeak)
		}
		if err := exec.Command("sh", "-c", "exit 0").Run(); err != nil {
			t.Errorf("the host cannot start a process after the bomb: %v", err)
		}
	}},
	// Filling a tmpfs ends in ENOSPC at its size: it is memory, not the
	// host's disk, and bounded.
	{name: "disk-fill", victim: escFill, test: func(t *testing.T, name string) {
		const size = 2 << 20
		o := escAttack(t, name, escRun{args: []string{"/tmp/fill"}, opts: sandbox.Options{Mounts: []sandbox.Mount{sandbox.Tmpfs("/tmp", size)}}})
		escCheckFill(t, o, size)
	}},
	{name: "devshm-fill", victim: escFill, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{args: []string{"/dev/shm/fill"}})
		escCheckFill(t, o, 64<<20)
	}},
	// Opening files until EMFILE under Rlimits.OpenFiles; the limit cannot
	// be raised, and the host's own limit and fds are untouched.
	{name: "fd-exhaust", victim: func([]string) int {
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
		var err error
		top := 0
		for range 100000 {
			var fd int
			if fd, err = unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
				break
			}
			top = fd
		}
		raise := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 1 << 20, Max: 1 << 20})
		return escReport(fmt.Sprintf("nofile=%d/%d", rl.Cur, rl.Max), escErr(err), "top="+strconv.Itoa(top), escErr(raise))
	}, test: func(t *testing.T, name string) {
		var before unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &before)
		o := escAttack(t, name, escRun{opts: sandbox.Options{Rlimits: sandbox.Rlimits{OpenFiles: 64}}})
		escWant(t, o, "nofile=64/64,EMFILE,top=63,EPERM")
		var after unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &after)
		if after != before {
			t.Errorf("the host's RLIMIT_NOFILE changed: %v -> %v", before, after)
		}
		f, err := os.Open("/dev/null")
		if err != nil {
			t.Errorf("the host cannot open a file: %v", err)
		} else {
			f.Close()
		}
	}},

	// --- the CVEs ---

	// CVE-2019-5736: overwrite the runtime's binary (here the host's test
	// binary, the init) through /proc/1/exe or the command's own
	// /proc/self/exe. The init's exe is closed (not dumpable); the
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
		escWant(t, o, "EACCES,EACCES,self=/probe,"+busy+","+busy)
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
		// The parent of /work is the sandbox's /, whose entries vary (up=N).
		if f := strings.Split(o.verdict, ","); len(f) != 9 || strings.Join(f[:7], ",") != "cwd=/work,fs="+tmpfs+",EACCES,init-fds=closed,fds=0+1+2,list=0,write=ENOENT" ||
			f[8] != "upwrite=ENOENT" || !o.res.Success() {
			t.Errorf("verdict %q, want cwd=/work,fs=%s,EACCES,init-fds=closed,fds=0+1+2,list=0,write=ENOENT,up=N,upwrite=ENOENT; %v", o.verdict, tmpfs, o)
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
			f := strings.Split(o.verdict, ",")
			if len(f) == 9 && strings.HasPrefix(f[0], "cwd=/") && f[1] == "fs="+tmpfs && f[4] == "fds=0+1+2" {
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
	// CVE-2022-0492: cgroup v1's release_agent runs a program as host root;
	// the attack needs a cgroupfs mounted in a new user and cgroup
	// namespace. Nothing of it is possible, and none is mounted.
	{name: "cve-2022-0492", victim: func([]string) int {
		os.Mkdir("/tmp/cg", 0o755)
		var st unix.Stat_t
		r := []string{
			escErr(unix.Mount("cgroup", "/tmp/cg", "cgroup", 0, "rdma")),
			escErr(unix.Mount("cgroup", "/tmp/cg", "cgroup", 0, "memory")),
			escErrno(escInChild(escFork, unix.SYS_UNSHARE, unix.CLONE_NEWUSER|unix.CLONE_NEWNS|unix.CLONE_NEWCGROUP)),
			escErrno(escInChild(escFork, unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP|unix.CLONE_NEWNS)),
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
			escErrno(escSys(unix.SYS_MOVE_MOUNT, unix.AT_FDCWD, "/tmp", unix.AT_FDCWD, "/proc", 0)),
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

// escFill is a victim that writes args[0] until the write fails, and
// reports the error, the filesystem and how much it wrote.
func escFill(args []string) int {
	f, err := os.Create(args[0])
	if err != nil {
		return escReport("create:" + escErr(errors.Unwrap(err)))
	}
	var fs unix.Statfs_t
	unix.Fstatfs(int(f.Fd()), &fs)
	kind := strconv.FormatInt(fs.Type, 16)
	if fs.Type == unix.TMPFS_MAGIC {
		kind = "tmpfs"
	}
	chunk := make([]byte, 64<<10)
	written := 0
	for written < 1<<30 {
		n, err := f.Write(chunk)
		written += n
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return escReport(escErr(err), kind, "written="+strconv.Itoa(written))
		}
	}
	return escReport("no-error", kind, "written="+strconv.Itoa(written))
}

// escCheckFill checks escFill's verdict for a tmpfs of size bytes.
func escCheckFill(t *testing.T, o escOut, size int) {
	t.Helper()
	var written int
	if _, err := fmt.Sscanf(o.verdict, "ENOSPC,tmpfs,written=%d", &written); err != nil || !o.res.Success() {
		t.Fatalf("verdict %q, want ENOSPC on a tmpfs; %v", o.verdict, o)
	}
	if written > size || written < size/2 {
		t.Errorf("wrote %d bytes into a tmpfs of %d", written, size)
	}
}

// escCores lists the core files in dirs.
func escCores(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, "core*"))
		out = append(out, m...)
	}
	slices.Sort(out)
	return out
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

// escInitFDs tries to reach the init's fds through /proc/1/fd and
// /proc/1/fdinfo: opening or reading the link of any of the first 64 of
// them. In the root lane uid 0 inside may list the directory (the init's
// /proc files belong to root), which names the fds but opens none.
func escInitFDs() string {
	var got []string
	for fd := range 64 {
		n := strconv.Itoa(fd)
		if escOpen("/proc/1/fd/"+n, unix.O_RDONLY) == "OPENED" || escOpen("/proc/1/fd/"+n, unix.O_PATH) == "OPENED" {
			got = append(got, "open:"+n)
		}
		if target, err := os.Readlink("/proc/1/fd/" + n); err == nil {
			got = append(got, "link:"+n+"="+escSafe(target))
		}
		if escOpen("/proc/1/fdinfo/"+n, unix.O_RDONLY) == "OPENED" {
			got = append(got, "fdinfo:"+n)
		}
	}
	if len(got) == 0 {
		return "init-fds=closed"
	}
	return "init-fds=" + strings.Join(got, "+")
}

// escHoard holds what memory-bomb allocates.
var escHoard [][]byte
