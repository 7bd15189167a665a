package isolate

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInheritedRestore: Restore puts back what a process of the same user
// may change in a process and its thread (here the test's own, on a thread
// that ends with the test), takes the limits the process set on itself as
// the ones it must have, and fails rather than leave a change it cannot
// undo.
func TestInheritedRestore(t *testing.T) {
	runtime.LockOSThread() // never unlocked: the thread ends with the test
	tid := unix.Gettid()
	built, err := RecordInherited(tid)
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string) {
		t.Helper()
		now, err := RecordInherited(tid)
		if err != nil {
			t.Fatal(err)
		}
		if now.Rlimits != built.Rlimits || now.Thread != built.Thread ||
			string(now.OOMScoreAdj) != string(built.OOMScoreAdj) || string(now.CoredumpFilter) != string(built.CoredumpFilter) {
			t.Errorf("%s: state %+v; want %+v", what, now, built)
		}
	}

	// What an unprivileged process may undo: a soft limit lowered, the
	// thread's policy, affinity and I/O priority.
	nofile := built.Rlimits[unix.RLIMIT_NOFILE]
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: nofile.Cur - 1, Max: nofile.Max}, nil); err != nil {
		t.Fatal(err)
	}
	if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_BATCH, Nice: built.Thread.Sched.Nice}, 0); err != nil {
		t.Fatal(err)
	}
	if err := ioprioSet(tid, 2<<13|7); err != nil { // best effort, lowest level
		t.Fatal(err)
	}
	changes := 3
	if built.Thread.Affinity.Count() > 1 {
		var one unix.CPUSet
		for cpu := 0; one.Count() == 0; cpu++ {
			if built.Thread.Affinity.IsSet(cpu) {
				one.Set(cpu)
			}
		}
		if err := unix.SchedSetaffinity(tid, &one); err != nil {
			t.Fatal(err)
		}
		changes++
	}
	var changed ThreadState
	if err := readThread(tid, &changed); err != nil {
		t.Fatal(err)
	}
	if changed == built.Thread {
		t.Fatal("the thread's state did not change")
	}
	if err := built.Restore(nil); err != nil {
		t.Fatalf("Restore after %d changes it may undo: %v", changes, err)
	}
	same("after Restore")

	// The limits the process set on itself are the ones it must keep.
	set := []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: nofile.Cur - 2, Max: nofile.Max}}
	if err := built.Restore(set); err != nil {
		t.Fatal(err)
	}
	var got unix.Rlimit
	unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &got)
	if got.Cur != nofile.Cur-2 {
		t.Errorf("Restore with RLIMIT_NOFILE set to %d: %d", nofile.Cur-2, got.Cur)
	}
	if err := built.Restore(nil); err != nil {
		t.Fatal(err)
	}
	same("after Restore")

	// The thread made nicer: only a privilege (CAP_SYS_NICE, RLIMIT_NICE)
	// makes it less nice again; without, Restore must fail, not pass.
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, int(built.Thread.Sched.Nice)+1); err != nil {
		t.Fatal(err)
	}
	if err := built.Restore(nil); err != nil {
		t.Logf("Restore after the thread was made nicer: %v", err)
	} else {
		same("after Restore of a nicer thread")
	}
}
