package adversarial

// Escape cases: exhausting what the kernel counts per user (the sandbox's
// uid outside is the caller's) or per machine rather than per cgroup:
// inotify instances and watches, queued signals, locked memory, the
// pseudo-terminal pool. Each victim takes all it can and holds it while
// the test checks that the host, the same user outside, can still take
// one more; and that the victim stopped at the sandbox's own bound.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

var escUserCountCases = []escapeCase{
	{name: "inotify-instances", victim: func([]string) int {
		n, err := 0, error(nil)
		for ; n < 10000; n++ {
			if _, err = unix.InotifyInit1(unix.IN_CLOEXEC); err != nil {
				break
			}
		}
		return escHold("instances=" + strconv.Itoa(n) + "," + escErr(err))
	}, test: func(t *testing.T, name string) {
		bound := escUserCount(t, "max_inotify_instances", isolate.MaxInotifyInstances)
		v := escHolding(t, name, escRun{}, func(string) {
			fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
			if err != nil {
				t.Errorf("the host cannot create an inotify instance while the sandbox holds its own: %v", err)
				return
			}
			unix.Close(fd)
		})
		var n int
		if _, err := fmt.Sscanf(v, "instances=%d,EMFILE", &n); err != nil || n < 1 || n > bound {
			t.Errorf("verdict %q, want EMFILE after 1 to %d instances", v, bound)
		}
	}},
	// Watches: each of the instances watches the same files, so that few
	// files make many watches.
	{name: "inotify-watches", victim: func([]string) int {
		const files = 4096
		for i := range files {
			if err := os.WriteFile(filepath.Join("/tmp", strconv.Itoa(i)), nil, 0o600); err != nil {
				return escReport("create:" + escErr(err))
			}
		}
		watches, err := 0, error(nil)
	fill:
		for range 1000 {
			fd, ierr := unix.InotifyInit1(unix.IN_CLOEXEC)
			if ierr != nil {
				err = ierr
				break
			}
			for i := range files {
				if _, err = unix.InotifyAddWatch(fd, filepath.Join("/tmp", strconv.Itoa(i)), unix.IN_MODIFY); err != nil {
					break fill
				}
				watches++
			}
		}
		return escHold("watches=" + strconv.Itoa(watches) + "," + escErr(err))
	}, test: func(t *testing.T, name string) {
		bound := escUserCount(t, "max_inotify_watches", isolate.MaxInotifyWatches)
		v := escHolding(t, name, escRun{}, func(string) {
			fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
			if err != nil {
				t.Errorf("inotify_init1 on the host: %v", err)
				return
			}
			defer unix.Close(fd)
			if _, err := unix.InotifyAddWatch(fd, os.TempDir(), unix.IN_MODIFY); err != nil {
				t.Errorf("the host cannot add an inotify watch while the sandbox holds its own: %v", err)
			}
		})
		var n int
		if _, err := fmt.Sscanf(v, "watches=%d,ENOSPC", &n); err != nil || n < 1 || n > bound {
			t.Errorf("verdict %q, want ENOSPC after 1 to %d watches", v, bound)
		}
	}},
	// Real-time signals queued to a thread that blocks them stay pending,
	// each one counted against RLIMIT_SIGPENDING.
	{name: "signal-queue", victim: func([]string) int {
		runtime.LockOSThread()
		var set unix.Sigset_t
		set.Val[(escRTSignal-1)/64] |= 1 << ((escRTSignal - 1) % 64)
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
			return escReport("sigmask:" + escErr(err))
		}
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_SIGPENDING, &rl)
		n, e := 0, syscall.Errno(0)
		for ; n < 1<<20; n++ {
			if e = testutil.QueueSignal(unix.Getpid(), unix.Gettid(), escRTSignal); e != 0 {
				break
			}
		}
		raise := unix.Setrlimit(unix.RLIMIT_SIGPENDING, &unix.Rlimit{Cur: rl.Max + 1, Max: rl.Max + 1})
		return escHold(fmt.Sprintf("sigpending=%d,queued=%d,%s,%s", rl.Max, n, escErrno(e), escErr(raise)))
	}, test: func(t *testing.T, name string) {
		v := escHolding(t, name, escRun{}, func(string) {
			c := escSleeper(t)
			if e := testutil.QueueSignal(c.Process.Pid, 0, escRTSignal); e != 0 {
				t.Errorf("the host cannot queue a signal while the sandbox holds its own: %v", e)
			}
		})
		var max, n int
		if _, err := fmt.Sscanf(v, "sigpending=%d,queued=%d,EAGAIN,EPERM", &max, &n); err != nil || max > 1024 || n < 1 || n > max {
			t.Errorf("verdict %q, want EAGAIN after at most 1024 signals and EPERM raising the limit", v)
		}
	}},
	// SysV shared memory locked with SHM_LOCK is counted per user against
	// RLIMIT_MEMLOCK (mlock is per process, and charged to the cgroup).
	{name: "shm-lock", victim: func([]string) int {
		const seg = 64 << 10
		locked, err := 0, error(nil)
		for range 4096 {
			id, gerr := unix.SysvShmGet(unix.IPC_PRIVATE, seg, unix.IPC_CREAT|0o600)
			if gerr != nil {
				err = gerr
				break
			}
			if _, err = unix.SysvShmCtl(id, escSHMLock, nil); err != nil {
				break
			}
			locked += seg
		}
		return escHold("locked=" + strconv.Itoa(locked) + "," + escErr(err))
	}, test: func(t *testing.T, name string) {
		v := escHolding(t, name, escRun{}, func(string) {
			id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 64<<10, unix.IPC_CREAT|0o600)
			if err != nil {
				t.Errorf("shmget on the host: %v", err)
				return
			}
			defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			if _, err := unix.SysvShmCtl(id, escSHMLock, nil); err != nil {
				t.Errorf("the host cannot lock memory while the sandbox holds its own: %v", err)
			}
		})
		var n int
		if _, err := fmt.Sscanf(v, "locked=%d,ENOMEM", &n); err != nil || n < 1 || n > 1<<20 {
			t.Errorf("verdict %q, want ENOMEM after 64 KiB to 1 MiB locked", v)
		}
	}},
	// The pty pool: a sandbox holding all the ptys it can get leaves one for
	// another sandbox and for the host.
	{name: "pty-exhaust", victim: func(args []string) int {
		limit, _ := strconv.Atoi(args[0])
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
		rl.Cur = rl.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
		n, err := 0, error(nil)
		for ; n < limit; n++ {
			if _, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
				break
			}
		}
		v := "ptys=" + strconv.Itoa(n) + "," + escErr(err)
		if len(args) > 1 {
			return escHold(v)
		}
		return escReport(v)
	}, test: func(t *testing.T, name string) {
		v := escHolding(t, name, escRun{args: []string{"5000", "hold"}}, func(string) {
			o := escAttack(t, name, escRun{args: []string{"1"}})
			escWant(t, o, "ptys=1,ok")
			m, s := testutil.OpenPTY(t)
			m.Close()
			s.Close()
		})
		if want := fmt.Sprintf("ptys=%d,ENOSPC", isolate.MaxPTYs); v != want {
			t.Errorf("verdict %q, want %q", v, want)
		}
	}},
}

// escSHMLock is shmctl's SHM_LOCK, which x/sys/unix lacks.
const escSHMLock = 11

// escRTSignal is the real-time signal the signal cases queue.
const escRTSignal = syscall.Signal(40)

// escHolding runs the named case's victim with r, which takes what it
// attacks, reports it with escHold and holds it until its stdin ends;
// meanwhile during runs with the report. It returns the report.
func escHolding(t *testing.T, name string, r escRun, during func(report string)) string {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	defer repR.Close()
	r.stdin, r.extra = inR, []*os.File{repW}
	done := make(chan struct{})
	var o escOut
	var runErr error
	go func() {
		defer close(done)
		o, runErr = escTry(t, name, r)
	}()
	lines := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(repR).ReadString('\n')
		lines <- strings.TrimSpace(l)
	}()
	var report string
	select {
	case report = <-lines:
	case <-done:
	case <-time.After(30 * time.Second):
	}
	if report != "" {
		t.Logf("holding: %s", report)
		during(report)
	}
	inW.Close()
	<-done
	inR.Close()
	repW.Close()
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	if report == "" || !o.res.Success() {
		t.Fatalf("the victim reported %q; %v", report, o)
	}
	return report
}

// escHold is the victim's side of escHolding: it reports v on fd 3 and
// as its verdict, and waits for its stdin to end.
func escHold(v string) int {
	f := os.NewFile(3, "report")
	fmt.Fprintln(f, v)
	f.Close()
	var b [1]byte
	for {
		if n, err := os.Stdin.Read(b[:]); n == 0 && err != nil {
			break
		}
	}
	return escReport(v)
}

// escUserCount is a sandbox's bound on the per-user count name of
// /proc/sys/user: def, or a quarter of the host's own limit if less. It
// skips the case when the host has no such count, or too low a limit to
// leave a sandbox any.
func escUserCount(t *testing.T, name string, def int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/user/" + name)
	if err != nil {
		t.Skipf("the kernel has no %s: %v", name, err)
	}
	host, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if host < 8 {
		t.Skipf("the host allows %d of %s per user", host, name)
	}
	return min(def, host/4)
}
