package sandbox_test

// The victim's attempts at set-uid and set-gid files, and at other
// processes' resource limits (TestSeccompBlocks and TestSeccompOff run
// them with the others). Each set-id attempt makes one call on a file it
// prepared in the sandbox's /tmp: with S_ISUID, with S_ISGID, and (the
// control) with neither.

import (
	"os"
	"strconv"
	"unsafe"

	"github.com/corral-dev/corral/internal/seccomp"
	"github.com/corral-dev/corral/internal/testutil"
	"golang.org/x/sys/unix"
)

// setidPath is the file (or directory, or node) the set-id attempts make
// or change.
const setidPath = "/tmp/setid"

// setidCall is a call that gives a file a mode.
type setidCall struct {
	name string
	call func(mode uint64) errno
}

// setidFile creates setidPath as a plain file with mode 0644 and returns
// an fd of it; the attempt fails (exit 2) if it cannot.
func setidFile() int {
	fd, err := unix.Open(setidPath, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		os.Stderr.WriteString("setid: preparing " + setidPath + ": " + err.Error() + "\n")
		os.Exit(2)
	}
	return fd
}

// openHow is struct open_how, global so that it never moves.
var openHow unix.OpenHow

var setidCalls = append([]setidCall{
	{name: "fchmod", call: func(m uint64) errno { return testutil.Syscall(unix.SYS_FCHMOD, setidFile(), m) }},
	{name: "fchmodat", call: func(m uint64) errno {
		unix.Close(setidFile())
		return testutil.Syscall(unix.SYS_FCHMODAT, unix.AT_FDCWD, setidPath, m)
	}},
	// The kernel reads the mode as 16 bits: bit 32 set changes nothing.
	{name: "fchmodat-high", call: func(m uint64) errno {
		unix.Close(setidFile())
		return testutil.Syscall(unix.SYS_FCHMODAT, unix.AT_FDCWD, setidPath, 1<<32|m)
	}},
	// fchmodat2 (6.6): where the filter compiler does not know it (before
	// libseccomp 2.5.5, though Debian's 2.5.4 does), ENOSYS whatever the
	// mode; never ok with either bit.
	{name: "fchmodat2", call: func(m uint64) errno {
		unix.Close(setidFile())
		return testutil.Syscall(unix.SYS_FCHMODAT2, unix.AT_FDCWD, setidPath, m, 0)
	}},
	{name: "mkdirat", call: func(m uint64) errno { return testutil.Syscall(unix.SYS_MKDIRAT, unix.AT_FDCWD, setidPath, m) }},
	{name: "mknodat", call: func(m uint64) errno {
		return testutil.Syscall(unix.SYS_MKNODAT, unix.AT_FDCWD, setidPath, unix.S_IFREG|m, 0)
	}},
	{name: "openat-creat", call: openat(unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC)},
	{name: "openat-creat-excl", call: openat(unix.O_CREAT | unix.O_EXCL | unix.O_RDWR | unix.O_CLOEXEC)},
	// O_CREAT with a bit above the 32 the kernel reads.
	{name: "openat-creat-high", call: openat(1<<32 | unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC)},
	// An unnamed file (it could be linked in afterwards).
	{name: "openat-tmpfile", call: openatIn("/tmp", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC)},
	// openat2's flags and mode are in memory the filter cannot read: it
	// answers ENOSYS, and libraries fall back to openat.
	{name: "openat2-creat", call: func(m uint64) errno {
		openHow = unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC, Mode: m}
		return testutil.Syscall(unix.SYS_OPENAT2, unix.AT_FDCWD, setidPath, unsafe.Pointer(&openHow), unix.SizeofOpenHow)
	}},
}, legacySetidCalls...)

// openat returns an openat of setidPath with flags.
func openat(flags uint64) func(mode uint64) errno { return openatIn(setidPath, flags) }

// openatIn returns an openat of path with flags.
func openatIn(path string, flags uint64) func(mode uint64) errno {
	return func(m uint64) errno {
		return testutil.Syscall(unix.SYS_OPENAT, unix.AT_FDCWD, path, flags, m)
	}
}

// setidAttempts: each call with S_ISUID and with S_ISGID (EPERM, where
// the kernel would set the bit or strip it from a directory), and with
// neither (ok); and the opens that create nothing, whatever their mode.
var setidAttempts = func() []attempt {
	var as []attempt
	for _, c := range setidCalls {
		for _, v := range []struct {
			suffix, def string
			mode        uint64
		}{{"plain", "ok", 0o755}, {"suid", "EPERM", 0o4755}, {"sgid", "EPERM", 0o2755}} {
			a := attempt{name: "setid-" + c.name + "-" + v.suffix, def: v.def, off: "ok", call: func() errno { return c.call(v.mode) }}
			switch c.name {
			case "fchmodat2":
				if a.off = "ok|ENOSYS"; !seccomp.Known("fchmodat2") { // ENOSYS before 6.6
					a.def = "ENOSYS"
				}
			case "openat2-creat":
				a.def = "ENOSYS"
			}
			as = append(as, a)
		}
	}
	noCreate := func(flags uint64) func() errno {
		return func() errno {
			unix.Close(setidFile())
			return openat(flags)(0o6755)
		}
	}
	return append(as,
		attempt{name: "setid-openat-read", def: "ok", off: "ok", call: noCreate(unix.O_RDONLY | unix.O_CLOEXEC)},
		attempt{name: "setid-openat-trunc", def: "ok", off: "ok", call: noCreate(unix.O_WRONLY | unix.O_TRUNC | unix.O_CLOEXEC)},
		attempt{name: "openat2-read", def: "ENOSYS", off: "ok", call: func() errno {
			openHow = unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC}
			return testutil.Syscall(unix.SYS_OPENAT2, unix.AT_FDCWD, "/tmp", unsafe.Pointer(&openHow), unix.SizeofOpenHow)
		}},
	)
}()

// prlimitAttempts: a command sets its own limits only (pid 0), and reads
// anyone's; the sandbox's init (pid 1) and its threads are out of reach.
// Without the filter the kernel lets it set the init's (same user): each
// attempt sets the limit it just read, which changes nothing.
var prlimitAttempts = []attempt{
	{name: "prlimit-init", def: "EPERM", off: "ok", call: prlimitSet(func() int { return 1 })},
	{name: "prlimit-init-thread", def: "EPERM", off: "ok", call: prlimitSet(initThread)},
	{name: "prlimit-own-pid", def: "EPERM", off: "ok", call: prlimitSet(unix.Getpid)}, // documented: pid 0 only
	{name: "prlimit-self", def: "ok", off: "ok", call: prlimitSet(func() int { return 0 })},
	{name: "prlimit-read-init", def: "ok", off: "ok", call: func() errno {
		return testutil.Syscall(unix.SYS_PRLIMIT64, 1, unix.RLIMIT_FSIZE, 0, unsafe.Pointer(&rlim))
	}},
	{name: "setrlimit", def: "ok", off: "ok", call: func() errno {
		if e := testutil.Syscall(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_FSIZE, 0, unsafe.Pointer(&rlim)); e != 0 {
			return e
		}
		return testutil.Syscall(unix.SYS_SETRLIMIT, unix.RLIMIT_FSIZE, unsafe.Pointer(&rlim))
	}},
}

var rlim unix.Rlimit

// prlimitSet reads pid()'s RLIMIT_FSIZE and sets it to what it read.
func prlimitSet(pid func() int) func() errno {
	return func() errno {
		p := pid()
		if e := testutil.Syscall(unix.SYS_PRLIMIT64, p, unix.RLIMIT_FSIZE, 0, unsafe.Pointer(&rlim)); e != 0 {
			return e
		}
		return testutil.Syscall(unix.SYS_PRLIMIT64, p, unix.RLIMIT_FSIZE, unsafe.Pointer(&rlim), 0)
	}
}

// initThread returns the tid of a thread of the init other than pid 1:
// from /proc/1/task, or else the first pid below the command's own whose
// limits can be read (the init starts its threads before the command).
func initThread() int {
	if es, err := os.ReadDir("/proc/1/task"); err == nil {
		for _, e := range es {
			if tid, _ := strconv.Atoi(e.Name()); tid > 1 {
				return tid
			}
		}
	}
	for tid := 2; tid < unix.Getpid(); tid++ {
		if testutil.Syscall(unix.SYS_PRLIMIT64, tid, unix.RLIMIT_FSIZE, 0, unsafe.Pointer(&rlim)) == 0 {
			return tid
		}
	}
	os.Stderr.WriteString("no thread of the init found\n")
	os.Exit(2)
	return 0
}
