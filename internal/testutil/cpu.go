package testutil

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUUntil reads the CPU time (user and system) of the process pid every
// 10 ms until done is closed or the process is gone, and returns how much
// it used after the first read, in ms, to a clock tick (10 ms). The
// sandbox's init is hidden from its commands (hidepid): tests measure it
// from the host.
func CPUUntil(pid int, done <-chan struct{}) int64 {
	first, ok := cpuTime(pid)
	last := first
	for ok {
		select {
		case <-done:
			ok = false
		case <-time.After(10 * time.Millisecond):
		}
		if now, alive := cpuTime(pid); alive {
			last = now
		} else {
			ok = false
		}
	}
	return last - first
}

// cpuTime is the CPU time of pid in ms, from /proc/PID/stat.
func cpuTime(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 || f[0] == "Z" {
		return 0, false
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return (utime + stime) * 10, true // USER_HZ is 100
}
