package sandbox_test

import (
	"github.com/corral-dev/corral/internal/testutil"
	"golang.org/x/sys/unix"
)

// legacySetidCalls are the set-id attempts through the calls that newer
// architectures (arm64, riscv64) do not have.
var legacySetidCalls = []setidCall{
	{name: "chmod", call: func(m uint64) errno {
		unix.Close(setidFile())
		return testutil.Syscall(unix.SYS_CHMOD, setidPath, m)
	}},
	{name: "mkdir", call: func(m uint64) errno { return testutil.Syscall(unix.SYS_MKDIR, setidPath, m) }},
	{name: "mknod", call: func(m uint64) errno { return testutil.Syscall(unix.SYS_MKNOD, setidPath, unix.S_IFREG|m, 0) }},
	{name: "creat", call: func(m uint64) errno { return testutil.Syscall(unix.SYS_CREAT, setidPath, m) }},
	{name: "open-creat", call: func(m uint64) errno {
		return testutil.Syscall(unix.SYS_OPEN, setidPath, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, m)
	}},
	{name: "open-tmpfile", call: func(m uint64) errno {
		return testutil.Syscall(unix.SYS_OPEN, "/tmp", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, m)
	}},
}
