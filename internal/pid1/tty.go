package pid1

// A command's terminal: a pty of the sandbox's own devpts instance.

import (
	"fmt"

	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// openTerminal opens a pty of the sandbox's devpts (/dev/ptmx is a
// symlink to /dev/pts/ptmx, the sandbox's own instance: the host's
// devpts is not mounted in the sandbox) at the size ws, and makes its
// slave the command's stdin, stdout and stderr in files, closing the
// three files the host sent in their place. It returns the master, for
// the host.
//
// It runs on the launcher thread, as start does: that thread's mount
// namespace is the command's (renewNamespaces gives it a new one for each
// run of a reused sandbox), and the calls need no capability. The
// launcher's filter allows them (the default profile refuses only the
// TIOCSTI and TIOCLINUX ioctls). In a run, Landlock does not confine the
// launcher's own opens (see ruleset); in a live sandbox the launcher is in
// its commands' one domain, whose mount rules must (and do) allow
// /dev/ptmx and /dev/pts, as they do for the commands (TestBoxTTY). The slave is opened by its path in the same
// mount namespace, /dev/pts/N of that instance.
func openTerminal(ws *protocol.Winsize, files []int) (master int, err error) {
	master, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("terminal: open /dev/ptmx: %w", err)
	}
	fail := func(step string, err error) (int, error) {
		unix.Close(master)
		return -1, fmt.Errorf("terminal: %s: %w", step, err)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlockpt", err)
	}
	if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols}); err != nil {
		return fail("set its size", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return fail("ptsname", err)
	}
	slave, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("open its slave", err)
	}
	for i := range 3 {
		unix.Close(files[i])
		if i == 0 {
			files[i] = slave
		} else if files[i], err = unix.FcntlInt(uintptr(slave), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			files[i] = -1
			return fail("dup its slave", err)
		}
	}
	return master, nil
}
