package adversarial

// Escape cases: exhausting the host's pids, memory, disk and file descriptors.

import (
	"errors"
	"fmt"
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

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

var escResourceCases = slices.Concat(escLimitCases, escUserCountCases)

var escLimitCases = []escapeCase{
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
		// Until the bomb fills the limit: a fixed pause was too short in the
		// emulated VM, where a fork takes tens of milliseconds.
		deadline := time.Now().Add(8 * time.Second)
		for {
			ts := unix.Timespec{Nsec: 50e6}
			unix.Nanosleep(&ts, nil)
			e = testutil.InChild(testutil.Fork, unix.SYS_GETPID, 0)
			if e == unix.EAGAIN || time.Now().After(deadline) {
				break
			}
		}
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
	// The default /dev/shm is no bigger than Limits.Memory, and its pages
	// count in it: filling it ends in ENOSPC at the size or in the OOM
	// killer at the limit, never past.
	{name: "devshm-fill", victim: escFill, test: func(t *testing.T, name string) {
		const limit = 32 << 20
		o := escAttack(t, name, escRun{args: []string{"/dev/shm/fill"}, opts: escLimited(sandbox.Limits{Memory: limit, Time: 20 * time.Second})})
		if o.res.OOMKilled {
			if o.res.Limit != sandbox.LimitMemory || o.res.MemoryPeak > limit+1<<20 {
				t.Errorf("filling /dev/shm under a 32 MiB limit: limit %q, peak %d; %v", o.res.Limit, o.res.MemoryPeak, o)
			}
			return
		}
		escCheckFill(t, o, limit)
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
	// Socket buffers: loopback TCP connections, written to and never read,
	// pin kernel memory the sandbox's memory limit must count (cgroup v1
	// counts it only with a TCP limit). The victim stops at 128 MiB.
	{name: "tcp-buffers", victim: escTCPFill, test: func(t *testing.T, name string) {
		const limit, conns = 32 << 20, 64
		// Control: what a few connections pin without a cgroup, to know the
		// attack would pass the limit here without the charge.
		ctl := escAttack(t, name, escRun{args: []string{"4"}})
		var per int
		if _, err := fmt.Sscanf(ctl.verdict, "written=%d", &per); err != nil {
			t.Fatalf("control: verdict %q; %v", ctl.verdict, ctl)
		}
		per /= 4
		if per*conns < 2*limit {
			t.Skipf("%d connections pin only %d bytes here: the attack does not pass a %d-byte limit", conns, per*conns, limit)
		}
		o := escAttack(t, name, escRun{args: []string{strconv.Itoa(conns)}, opts: escLimited(sandbox.Limits{Memory: limit, Time: 20 * time.Second})})
		if o.res.OOMKilled { // cgroup v2 may end it at the limit
			return
		}
		var written int
		if _, err := fmt.Sscanf(o.verdict, "written=%d", &written); err != nil || !o.res.Success() {
			t.Fatalf("verdict %q; %v", o.verdict, o)
		}
		if written > limit*5/4 {
			t.Errorf("%d connections pinned %d bytes under a %d-byte memory limit (%d without a limit for each)", conns, written, limit, per)
		}
	}},
}

// escTCPFill is a victim that opens args[0] loopback TCP connections and
// writes into each, never reading, until every write would block or 128
// MiB are written; it reports how much it wrote.
func escTCPFill(args []string) int {
	n, _ := strconv.Atoi(args[0])
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return escReport("socket:" + escErr(err))
	}
	lo := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(ln, lo); err != nil {
		return escReport("bind:" + escErr(err))
	}
	unix.Listen(ln, n)
	sa, _ := unix.Getsockname(ln)
	var clients []int
	for range n {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			err = unix.Connect(c, sa)
		}
		if err != nil {
			return escReport("connect:" + escErr(err))
		}
		if _, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC); err != nil {
			return escReport("accept:" + escErr(err))
		}
		unix.SetNonblock(c, true)
		clients = append(clients, c)
	}
	chunk := make([]byte, 64<<10)
	written := 0
	for open := len(clients); open > 0 && written < 128<<20; {
		open = 0
		for _, c := range clients {
			if w, err := unix.Write(c, chunk); err == nil {
				written += w
				open++
			}
		}
	}
	return escReport("written=" + strconv.Itoa(written))
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

// escHoard holds what memory-bomb allocates.
var escHoard [][]byte
