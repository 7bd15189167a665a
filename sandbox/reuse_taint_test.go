package sandbox_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// TestReuseInitUntainted: a run of a reused sandbox changes what it can of
// its init (its rlimits, /proc/1 files, the scheduling state of its
// threads, found by thread id), which every later command started from it
// would inherit; the next run of that sandbox starts from the state the
// sandbox was built with: the reset restored it, or the sandbox was not
// reused. (The kernel refuses the scheduling changes while the init's
// threads hold capabilities the command lacks; the cases stay, for an
// init that would not.)
func TestReuseInitUntainted(t *testing.T) {
	requireSandbox(t)
	for _, attack := range []string{"rlimit-soft", "rlimit-hard", "oom", "coredump", "nice", "batch", "idle",
		"uclamp", "affinity", "ioprio"} {
		t.Run(attack, func(t *testing.T) {
			sb := newSandbox(t, sandbox.Options{Pool: 1, Reuse: true, Mounts: []sandbox.Mount{probe(t)}})
			defer sb.Close()
			built, _, init := taintRun(t, sb, helperCmd("inherited"))
			got, _, init1 := taintRun(t, sb, helperCmd("taint", attack))
			t.Logf("%s: %s", attack, strings.TrimSpace(got))
			after, _, init2 := taintRun(t, sb, helperCmd("inherited"))
			switch {
			case init1 != init:
				t.Fatalf("the attack ran in init %d, not the first run's %d: the sandbox was not reused", init1, init)
			case init2 == init:
				t.Logf("the reset restored the sandbox (init %d)", init)
			default:
				t.Logf("the sandbox was not reused (init %d, then %d)", init, init2)
			}
			if after != built {
				t.Errorf("after %s, the next run starts with\n%s\nthe sandbox was built with\n%s", attack, after, built)
			}
		})
	}
}

// TestReuseInitInvisible: the command does not see its init in /proc, nor
// its threads, so it cannot write the init's /proc files.
func TestReuseInitInvisible(t *testing.T) {
	out := sh(t, sandbox.Options{}, `echo self $$; ls /proc
		for f in task oom_score_adj coredump_filter; do [ -r /proc/1/$f ] && echo "readable $f"; done
		echo 500 2>/dev/null >/proc/1/oom_score_adj || echo refused`)
	var pids []string
	for _, l := range strings.Fields(out) {
		if _, err := strconv.Atoi(l); err == nil {
			pids = append(pids, l)
		}
	}
	// The control: the command sees itself (its shell, and ls).
	if len(pids) < 2 || !strings.HasPrefix(out, "self "+pids[0]+"\n") || slices.Contains(pids[1:], "1") {
		t.Errorf("pids in /proc %v; want the command's own, and not its init's (1):\n%s", pids[1:], out)
	}
	if strings.Contains(out, "readable") || !strings.Contains(out, "refused") {
		t.Errorf("the init's /proc files are reachable:\n%s", out)
	}
}

// taintRun runs c warm in sb (filled first) and returns its output, its
// stderr and the init's host pid.
func taintRun(t *testing.T, sb *sandbox.Sandbox, c *sandbox.Cmd) (string, string, int) {
	t.Helper()
	prewarm(t, sb)
	var out, errs bytes.Buffer
	c.Stdout, c.Stderr = &out, &errs
	p, err := sb.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || !res.Success() || !res.Warm {
		t.Fatalf("%q: %v, %v, warm %v; stderr %q", c.Args, res, err, res.Warm, errs.String())
	}
	return out.String(), errs.String(), p.Pid()
}

// inheritedHelper prints what of its state a command inherits from the
// process that started it.
func inheritedHelper() int {
	for r := 0; r <= unix.RLIMIT_RTTIME; r++ {
		var l unix.Rlimit
		err := unix.Prlimit(0, r, nil, &l)
		fmt.Printf("rlimit %d %d %d %v\n", r, l.Cur, l.Max, err)
	}
	for _, f := range []string{"oom_score_adj", "coredump_filter"} {
		b, err := os.ReadFile("/proc/self/" + f)
		fmt.Printf("%s %s %v\n", f, bytes.TrimSpace(b), err)
	}
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		fmt.Println("sched", err)
	} else {
		fmt.Printf("sched policy %d flags %#x nice %d priority %d util %d-%d\n",
			attr.Policy, attr.Flags, attr.Nice, attr.Priority, attr.Util_min, attr.Util_max)
	}
	var set unix.CPUSet
	err = unix.SchedGetaffinity(0, &set)
	fmt.Printf("affinity %v %v\n", set, err)
	prio, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, 1, 0, 0)
	fmt.Printf("ioprio %#x %v\n", prio, errno)
	return 0
}

// taintHelper changes attack's part of the state of every other thread it
// can reach by thread id (its init's among them), and of /proc/1.
func taintHelper(attack string) int {
	own := map[int]bool{}
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			own[tid] = true
		}
	}
	var mine unix.CPUSet
	unix.SchedGetaffinity(0, &mine)
	changed := 0
	try := func(err error) {
		if err == nil {
			changed++
		}
	}
	switch attack {
	case "oom":
		try(os.WriteFile("/proc/1/oom_score_adj", []byte("500"), 0))
	case "coredump":
		try(os.WriteFile("/proc/1/coredump_filter", []byte("0x7f"), 0))
	}
	for tid := 1; tid < 256; tid++ {
		if own[tid] {
			continue
		}
		switch attack {
		case "rlimit-soft":
			try(unix.Prlimit(tid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 32, Max: 1 << 20}, nil))
			var l unix.Rlimit
			if unix.Prlimit(tid, unix.RLIMIT_FSIZE, nil, &l) == nil {
				try(unix.Prlimit(tid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 100, Max: l.Max}, nil))
			}
		case "rlimit-hard":
			try(unix.Prlimit(tid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 100, Max: 100}, nil))
		case "nice":
			try(unix.Setpriority(unix.PRIO_PROCESS, tid, 10))
		case "batch":
			try(unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_BATCH}, 0))
		case "idle":
			try(unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0))
		case "uclamp":
			try(unix.SchedSetAttr(tid, &unix.SchedAttr{
				Flags:    unix.SCHED_FLAG_KEEP_ALL | unix.SCHED_FLAG_UTIL_CLAMP_MIN | unix.SCHED_FLAG_UTIL_CLAMP_MAX,
				Util_min: 0, Util_max: 0}, 0))
		case "affinity":
			if mine.Count() < 2 {
				fmt.Println("one CPU: nothing to change")
				return 0
			}
			var one unix.CPUSet
			for cpu := 0; ; cpu++ {
				if mine.IsSet(cpu) {
					one.Set(cpu)
					break
				}
			}
			try(unix.SchedSetaffinity(tid, &one))
		case "ioprio":
			const idle = 3 << 13 // IOPRIO_CLASS_IDLE
			if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, 1, uintptr(tid), idle); errno == 0 {
				changed++
			}
		}
	}
	fmt.Printf("%s: changed %d\n", attack, changed)
	return 0
}

// TestReuseResetsTimes: what a run does in the writable mounts (files
// created and deleted, a mode changed, a link read) shows in the times
// and modes of their roots and of the entries they were built with, a
// channel to the next run; after the reset the next run sees them as the
// sandbox was built, and the same free space.
func TestReuseResetsTimes(t *testing.T) {
	requireSandbox(t)
	sb := newSandbox(t, sandbox.Options{Pool: 1, Reuse: true})
	defer sb.Close()
	const look = `stat -c '%n %a %u %x %y' /tmp /work /dev/shm /dev /dev/fd /dev/stdin /dev/pts /dev/pts/ptmx
		stat -f -c '%n %f %d' /tmp /work /dev/shm`
	built, _, init := taintRun(t, sb, sandbox.Command("/bin/sh", "-c", look))
	time.Sleep(20 * time.Millisecond) // the run's times are later than the build's
	const run = `set -e; touch /tmp/x /work/x /dev/shm/x; rm /tmp/x /work/x /dev/shm/x
		mkdir /tmp/d; rmdir /tmp/d; chmod 700 /tmp /dev/pts; readlink /dev/fd >/dev/null; readlink /dev/stdin >/dev/null
		head -c 4096 /dev/zero >/work/held; exec 3</work/held; rm /work/held; sleep 0.01 & `
	changed, errs, init1 := taintRun(t, sb, sandbox.Command("/bin/sh", "-c", run+"\n"+look))
	if changed == built || init1 != init {
		t.Fatalf("the run changed nothing visible, or ran elsewhere (init %d, then %d): %q %q", init, init1, changed, errs)
	}
	after, _, init2 := taintRun(t, sb, sandbox.Command("/bin/sh", "-c", look))
	if init2 != init {
		t.Logf("the sandbox was not reused (init %d, then %d)", init, init2)
	}
	if after != built {
		t.Errorf("after a run, the next sees\n%s\nthe sandbox was built with\n%s\n(the run saw\n%s)", after, built, changed)
	}
}
