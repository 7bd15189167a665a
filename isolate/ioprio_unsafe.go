package isolate

import "golang.org/x/sys/unix"

// ioprioWhoProcess is IOPRIO_WHO_PROCESS: the "who" of ioprio_get and
// ioprio_set is a thread id.
const ioprioWhoProcess = 1

// ioprioGet returns thread tid's I/O priority.
func ioprioGet(tid int) (int, error) {
	prio, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(prio), nil
}

// ioprioSet sets thread tid's I/O priority.
func ioprioSet(tid, prio int) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), uintptr(prio)); errno != 0 {
		return errno
	}
	return nil
}
