// Command runas runs a command as another user, the way a login would leave
// that user: it is the helper the test VM's init (internal/vmtest/init) uses
// to run the test binaries as uid 1000, since busybox has no setpriv
// --reuid.
//
// Usage:
//
//	runas UID:GID COMMAND [ARG...]
//
// It must start as root. It clears the supplementary groups, sets the real,
// effective and saved gid and uid, and execs COMMAND (looked up in PATH when
// it has no slash) with the environment it was given. The command holds no
// capabilities: the effective, permitted, inheritable and ambient sets are
// empty, which runas checks before the exec. The bounding set is left full,
// as it is for a user logged in through systemd, so that what a sandbox
// drops is its own doing. no_new_privs is not set, for the same reason.
//
// Exit status: the command's, or 2 for bad usage and 126 when the switch or
// the exec fails.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The capability calls act on the calling thread, and the command inherits
// the credentials of the thread that execs it: keep main on one thread.
func init() { runtime.LockOSThread() }

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: runas UID:GID COMMAND [ARG...]")
		os.Exit(2)
	}
	uid, gid, err := parseIDs(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "runas:", err)
		os.Exit(2)
	}
	if err := switchUser(uid, gid); err != nil {
		fail(err)
	}
	path, err := exec.LookPath(os.Args[2])
	if err != nil {
		fail(err)
	}
	fail(unix.Exec(path, os.Args[2:], os.Environ()))
}

// parseIDs parses "UID:GID", two decimal numbers.
func parseIDs(s string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(s, ":")
	u64, err1 := strconv.ParseUint(u, 10, 31)
	g64, err2 := strconv.ParseUint(g, 10, 31)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad UID:GID %q", s)
	}
	return int(u64), int(g64), nil
}

// switchUser makes the process uid:gid with no supplementary groups and no
// capabilities. The id changes apply to every thread of the process (the
// syscall package's wrappers see to that; unix.Setgroups would not); the
// capability calls to the calling thread only.
func switchUser(uid, gid int) error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid %d: %w", gid, err)
	}
	// Leaving uid 0 clears the permitted and effective sets (the secure
	// bits are not set); the inheritable set has to be cleared by hand.
	if err := unix.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid %d: %w", uid, err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return checkNoCaps()
}

// checkNoCaps confirms in /proc/thread-self/status that the switch left no
// capability behind.
func checkNoCaps() error {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(b)) {
		name, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch name {
		case "CapInh", "CapPrm", "CapEff", "CapAmb":
			if strings.Trim(strings.TrimSpace(value), "0") != "" {
				return fmt.Errorf("%s is %s after the switch, want none", name, strings.TrimSpace(value))
			}
		}
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "runas:", err)
	os.Exit(126)
}
