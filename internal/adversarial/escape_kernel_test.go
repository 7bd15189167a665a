package adversarial

// Escape cases: mounts, kernel interfaces and namespaces.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

var escKernelCases = []escapeCase{
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
			escErrno(testutil.Syscall(unix.SYS_FSOPEN, "sysfs", 0)),
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
	// /sys shows only its allow-list (the CPU, NUMA and THP directories),
	// read-only: the rest of sysfs is not there, not by name, not by the
	// links and ".." that lead out of a bound directory; the knobs inside
	// cannot be written (the caller that is root owns them by uid).
	{name: "sys-allowlist", victim: func(args []string) int {
		var r []string
		for _, p := range args {
			var st unix.Stat_t
			r = append(r, escErr(unix.Lstat(p, &st)))
		}
		r = append(r, escOpen("/sys/kernel/mm/transparent_hugepage/enabled", unix.O_WRONLY))
		allowed := []string{"/devices/system/cpu", "/devices/system/node", "/kernel/mm/transparent_hugepage"}
		b, _ := os.ReadFile("/proc/self/mountinfo")
		verdict := "sysfs-allowlist-ro"
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 10 || !slices.Contains(f, "sysfs") {
				continue
			}
			if !slices.Contains(allowed, f[3]) || !slices.Contains(strings.Split(f[5], ","), "ro") {
				verdict = "SYSFS:" + f[3] + ":" + f[5]
			}
		}
		return escReport(append(r, verdict)...)
	}, test: func(t *testing.T, name string) {
		if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
			t.Skip("the host has no /sys/kernel/mm/transparent_hugepage/enabled")
		}
		o := escAttack(t, name, escRun{args: []string{"/sys/kernel/uevent_helper", "/sys/fs/cgroup", "/sys/firmware",
			"/sys/class", "/sys/devices/system/cpu/../../../kernel/uevent_helper", "/sys/devices/system/cpu/cpu0/subsystem/"}})
		escWant(t, o, escRepeat("ENOENT", 6)+","+escByLane("EROFS", "EACCES")+",sysfs-allowlist-ro")
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
			escErrno(testutil.Syscall(unix.SYS_FSOPEN, "cgroup2", 0)),
			escErrno(testutil.InChild(testutil.Fork, unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP)),
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
		dev := []string{"fd", "mqueue", "ptmx", "pts", "shm", "stderr", "stdin", "stdout"}
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
			escErrno(testutil.Syscall(unix.SYS_SYSLOG, unix.SYSLOG_ACTION_READ_ALL, unsafe.Pointer(&buf[0]), len(buf))),
			escErrno(testutil.Syscall(unix.SYS_SYSLOG, unix.SYSLOG_ACTION_SIZE_BUFFER, 0, 0)),
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
		e1 := testutil.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, unsafe.Pointer(&prog[0]), int(unsafe.Sizeof(prog)))
		e2 := testutil.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, unsafe.Pointer(&mapAttr[0]), int(unsafe.Sizeof(mapAttr)))
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
			escErrno(testutil.Syscall(unix.SYS_INIT_MODULE, unsafe.Pointer(&image[0]), len(image), "")),
			escErrno(testutil.Syscall(unix.SYS_FINIT_MODULE, fd, "", 0)),
			escErrno(testutil.Syscall(unix.SYS_DELETE_MODULE, "loop", unix.O_NONBLOCK)),
		)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM,EPERM")
	}},
	// io_uring (a large attack surface, and a way around the filter's view
	// of system calls) and perf events are refused by the filter.
	{name: "io-uring", victim: func([]string) int {
		var params [120]byte
		return escReport(escErrno(testutil.Syscall(unix.SYS_IO_URING_SETUP, 4, unsafe.Pointer(&params[0]))))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM")
	}},
	{name: "perf-event-open", victim: func([]string) int {
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Size: unix.PERF_ATTR_SIZE_VER0}
		return escReport(escErrno(testutil.Syscall(unix.SYS_PERF_EVENT_OPEN, unsafe.Pointer(&attr), -1, 0, -1, 0))) // every process on CPU 0
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

	// Namespaces.
	{name: "unshare-newuser", victim: func([]string) int {
		return escReport(escErrno(testutil.InChild(testutil.Fork, unix.SYS_UNSHARE, unix.CLONE_NEWUSER)))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM")
	}},
	{name: "clone-newuser", victim: func([]string) int {
		return escReport(escErrno(testutil.InChild([3]uintptr{unix.SYS_CLONE, unix.CLONE_NEWUSER | uintptr(unix.SIGCHLD), 0}, unix.SYS_GETPID, 0)))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "EPERM")
	}},
	// clone3's flags are behind a pointer, out of the filter's reach: the
	// sandbox's user.max_user_namespaces of 0 refuses it (ENOSPC).
	{name: "clone3-newuser", victim: func([]string) int {
		escCloneArgs[0], escCloneArgs[4] = unix.CLONE_NEWUSER, uint64(unix.SIGCHLD)
		return escReport(escErrno(testutil.InChild([3]uintptr{unix.SYS_CLONE3, uintptr(unsafe.Pointer(&escCloneArgs)), 88}, unix.SYS_GETPID, 0)))
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), "ENOSPC")
	}},
	{name: "unshare-other-namespaces", victim: func([]string) int {
		var r []string
		for _, f := range []uintptr{unix.CLONE_NEWNS, unix.CLONE_NEWNET, unix.CLONE_NEWPID, unix.CLONE_NEWUTS,
			unix.CLONE_NEWIPC, unix.CLONE_NEWCGROUP, unix.CLONE_NEWTIME} {
			r = append(r, escErrno(testutil.InChild(testutil.Fork, unix.SYS_UNSHARE, f)))
		}
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		escWant(t, escAttack(t, name, escRun{}), escRepeat("EPERM", 7))
	}},
	// The init's namespace files are closed (it is not dumpable, so hidden), and setns
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
		escWant(t, escAttack(t, name, escRun{}), "EPERM,EPERM,EPERM,EPERM,EPERM")
	}},
}
