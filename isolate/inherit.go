package isolate

// What a command can change in the process it was started from: the
// sandbox's init, whose user it is. Every later command of a reused
// sandbox would inherit it, so a reset compares it with the state the
// sandbox was built in, puts back what it may, and fails on the rest.
//
// By its credentials alone a command may change the init's rlimits
// (prlimit) and, where it sees them, its /proc files. The scheduling
// state of the init's threads (setpriority, sched_setattr,
// sched_setaffinity, ioprio_set by thread id) is out of its reach as long
// as each of them holds a capability the command lacks (the kernel's
// cap_safe_nice): they all do, but the thread the commands start from is
// checked too, so that no change there can reach a later command.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// nlimits is the number of resource limits (RLIM_NLIMITS).
const nlimits = unix.RLIMIT_RTTIME + 1

// Inherited is the state of a process, and of the thread that starts its
// children, that another process of the same user could change (prlimit,
// /proc/PID files, setpriority, sched_setattr, sched_setaffinity and
// ioprio_set by thread id) and that the children inherit.
type Inherited struct {
	// Rlimits are the process's resource limits, by RLIMIT_* number.
	Rlimits [nlimits]unix.Rlimit
	// OOMScoreAdj and CoredumpFilter are the contents of the process's
	// /proc files of those names.
	OOMScoreAdj, CoredumpFilter []byte
	// Tid is the thread that starts the children, and Thread its
	// scheduling state.
	Tid    int
	Thread ThreadState
}

// ThreadState is a thread's scheduling state: what its children start with.
type ThreadState struct {
	Sched    unix.SchedAttr // policy, flags, nice, priority, utilization clamps
	Affinity unix.CPUSet
	IOPrio   int
}

// RecordInherited returns the calling process's Inherited state, with the
// scheduling state of its thread tid.
func RecordInherited(tid int) (*Inherited, error) {
	s := &Inherited{Tid: tid}
	for r := range s.Rlimits {
		if err := unix.Prlimit(0, r, nil, &s.Rlimits[r]); err != nil {
			return nil, stepErr("record", "rlimit "+strconv.Itoa(r), err)
		}
	}
	var buf [64]byte
	for _, f := range []struct {
		name string
		b    *[]byte
	}{{"oom_score_adj", &s.OOMScoreAdj}, {"coredump_filter", &s.CoredumpFilter}} {
		n, err := readProc(f.name, buf[:])
		if err != nil {
			return nil, stepErr("record", f.name, err)
		}
		*f.b = append([]byte(nil), buf[:n]...)
	}
	if err := readThread(tid, &s.Thread); err != nil {
		return nil, stepErr("record", "thread "+strconv.Itoa(tid), err)
	}
	return s, nil
}

// Restore puts the calling process back in state s, but for the limits
// in set, which the process has set on itself since (as Command.Rlimits
// do): those are what it must have. It changes only what differs, and
// fails when something differs that it cannot put back (a hard limit
// lowered, the thread made nicer: only a privilege outside the sandbox
// could undo them). It may run on any thread of the process.
func (s *Inherited) Restore(set []Rlimit) error {
	want := s.Rlimits
	for _, r := range set {
		if !r.AfterStart {
			want[r.Resource] = unix.Rlimit{Cur: r.Cur, Max: r.Max}
		}
	}
	for r := range want {
		var got unix.Rlimit
		if err := unix.Prlimit(0, r, nil, &got); err != nil {
			return stepErr("reset", "rlimit "+strconv.Itoa(r), err)
		}
		if got != want[r] {
			if err := unix.Prlimit(0, r, &want[r], nil); err != nil {
				return stepErr("reset", fmt.Sprintf("rlimit %d changed to %d/%d", r, got.Cur, got.Max), err)
			}
		}
	}
	var buf [64]byte
	for _, f := range []struct {
		name string
		want []byte
	}{{"oom_score_adj", s.OOMScoreAdj}, {"coredump_filter", s.CoredumpFilter}} {
		n, err := readProc(f.name, buf[:])
		if err != nil {
			return stepErr("reset", f.name, err)
		}
		if got := buf[:n]; !bytes.Equal(got, f.want) {
			if err := os.WriteFile("/proc/self/"+f.name, f.want, 0); err != nil {
				return stepErr("reset", f.name+" changed to "+string(bytes.TrimSpace(got)), err)
			}
		}
	}
	var got ThreadState
	name := strconv.Itoa(s.Tid)
	if err := readThread(s.Tid, &got); err != nil {
		return stepErr("reset", "thread "+name, err)
	}
	if got == s.Thread {
		return nil
	}
	if err := writeThread(s.Tid, &s.Thread, &got); err != nil {
		return stepErr("reset", "thread "+name, err)
	}
	if err := readThread(s.Tid, &got); err != nil {
		return stepErr("reset", "thread "+name, err)
	}
	if got != s.Thread {
		return stepErr("reset", "thread "+name, errors.New("its scheduling state was changed and cannot be restored"))
	}
	return nil
}

// readThread reads thread tid's scheduling state into st.
func readThread(tid int, st *ThreadState) error {
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return err
	}
	st.Sched = *attr
	if err := unix.SchedGetaffinity(tid, &st.Affinity); err != nil {
		return err
	}
	st.IOPrio, err = ioprioGet(tid)
	return err
}

// writeThread changes what differs between thread tid's state got and want.
func writeThread(tid int, want, got *ThreadState) error {
	if got.Sched != want.Sched {
		attr := want.Sched
		if got.Sched.Util_min != want.Sched.Util_min || got.Sched.Util_max != want.Sched.Util_max {
			attr.Flags |= unix.SCHED_FLAG_UTIL_CLAMP_MIN | unix.SCHED_FLAG_UTIL_CLAMP_MAX
		}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
			return fmt.Errorf("sched_setattr (policy %d, nice %d): %w", got.Sched.Policy, got.Sched.Nice, err)
		}
	}
	if got.Affinity != want.Affinity {
		if err := unix.SchedSetaffinity(tid, &want.Affinity); err != nil {
			return fmt.Errorf("sched_setaffinity: %w", err)
		}
	}
	if got.IOPrio != want.IOPrio {
		if err := ioprioSet(tid, want.IOPrio); err != nil {
			return fmt.Errorf("ioprio_set (%#x): %w", got.IOPrio, err)
		}
	}
	return nil
}

// readProc reads the file name of /proc/self into buf (one read: these
// files are a line each) and returns its length.
func readProc(name string, buf []byte) (int, error) {
	fd, err := unix.Open("/proc/self/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	return n, err
}
