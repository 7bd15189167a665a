package adversarial

// Escape cases: the host's /etc, shown with its secrets masked.

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
	"golang.org/x/sys/unix"
)

var escEtcCases = []escapeCase{
	// Every way around a mask over /etc/shadow: through a directory fd,
	// an O_PATH fd reopened by /proc/self/fd, /proc/self/root, lifting the
	// mask (umount), a non-recursive clone of /etc (which would show what
	// lies beneath the masks), and a file handle. For a root caller the
	// host's permissions would let uid 0 read the file; only the mask stops
	// it.
	{name: "etc-mask-bypass", victim: func(args []string) int {
		read := func(fd int) string {
			defer unix.Close(fd)
			b := make([]byte, 64)
			n, err := unix.Read(fd, b)
			if err != nil {
				return escErr(err)
			}
			return "READ:" + escSafe(string(b[:n]))
		}
		open := func(dirfd int, p string) string {
			fd, err := unix.Openat(dirfd, p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return escErr(err)
			}
			return read(fd)
		}
		var r []string
		r = append(r, open(unix.AT_FDCWD, "/etc/shadow"))
		if dfd, err := unix.Open("/etc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			r = append(r, open(dfd, "shadow"))
			unix.Close(dfd)
		} else {
			r = append(r, "open-etc:"+escErr(err))
		}
		if pfd, err := unix.Open("/etc/shadow", unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
			r = append(r, open(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(pfd)))
			unix.Close(pfd)
		} else {
			r = append(r, escErr(err))
		}
		r = append(r, open(unix.AT_FDCWD, "/proc/self/root/etc/shadow"))
		r = append(r, "umount:"+escErr(unix.Unmount("/etc/shadow", unix.MNT_DETACH)))
		r = append(r, open(unix.AT_FDCWD, "/etc/shadow"))
		if tree, err := unix.OpenTree(unix.AT_FDCWD, "/etc", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC); err == nil {
			r = append(r, "clone:"+open(tree, "shadow"))
			unix.Close(tree)
		} else {
			r = append(r, "clone:"+escErr(err))
		}
		// A file handle of /etc, the host's directory beneath the masks
		// (one of shadow could be forged from it): opening any handle
		// needs CAP_DAC_READ_SEARCH.
		if h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, "/etc", 0); err == nil {
			mfd, _ := unix.Open("/etc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if fd, err := unix.OpenByHandleAt(mfd, h, unix.O_RDONLY|unix.O_DIRECTORY); err == nil {
				r = append(r, "handle:"+open(fd, "shadow"))
				unix.Close(fd)
			} else {
				r = append(r, "handle:"+escErr(err))
			}
			unix.Close(mfd)
		} else {
			r = append(r, "handle:"+escErr(err))
		}
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		if _, err := os.Lstat("/etc/shadow"); err != nil {
			t.Skip("the host has no /etc/shadow")
		}
		o := escAttack(t, name, escRun{})
		if !o.res.Success() || o.verdict == "" || strings.Contains(o.verdict, "READ") {
			t.Errorf("verdict %q: the mask over /etc/shadow was passed; %v", o.verdict, o)
		}
	}},
	// A command the caller lets keep CAP_SYS_ADMIN, with the mount calls
	// allowed (its own rules) and no Landlock (off, or a kernel without
	// it), may unmount what it likes: every mount in /etc is lifted, and
	// /etc is bound again without its submounts. For a root caller nothing
	// of the host's /etc it could then read may be a secret: no secret may
	// lie beneath a mask there.
	{name: "etc-mask-lift-sys-admin", victim: func(args []string) int {
		var r []string
		mounts, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return escReport("mountinfo:" + escErr(err))
		}
		var under []string
		for _, line := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], "/etc/") {
				under = append(under, f[4])
			}
		}
		lifted := 0
		for i := len(under) - 1; i >= 0; i-- {
			if unix.Unmount(under[i], unix.MNT_DETACH) == nil {
				lifted++
			}
		}
		r = append(r, "lifted:"+strconv.FormatBool(lifted > 0 || len(under) == 0))
		for _, p := range args {
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				r = append(r, escErr(err))
				continue
			}
			b := make([]byte, 64)
			n, err := unix.Read(fd, b)
			unix.Close(fd)
			if err != nil {
				r = append(r, escErr(err))
				continue
			}
			r = append(r, "READ:"+strconv.Itoa(n)) // not the secret itself, into the test's log
		}
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		// The host's entries that a mask hides: what uid 0 reads on the
		// host and an unprivileged user could not.
		var secrets []string
		for _, p := range []string{"/etc/shadow", "/etc/gshadow", "/etc/ssl/private", "/etc/sudoers"} {
			st, err := os.Stat(p)
			if err != nil || st.Mode().Perm()&0o004 != 0 {
				continue
			}
			if st.IsDir() {
				entries, err := os.ReadDir(p)
				if err != nil || len(entries) == 0 || entries[0].IsDir() {
					continue
				}
				p += "/" + entries[0].Name()
			}
			secrets = append(secrets, p)
		}
		if len(secrets) == 0 {
			t.Skip("the host's /etc has none of the secrets this case looks for")
		}
		opts := sandbox.Options{
			Landlock:     sandbox.LandlockOff,
			Capabilities: []string{"CAP_SYS_ADMIN"},
			Seccomp: seccomp.Profile{Rules: []seccomp.Rule{{
				Syscalls: []string{"umount2"}, Action: seccomp.Allow}}},
		}
		o := escAttack(t, name, escRun{opts: opts, args: secrets})
		// Where the kernel has Landlock's signal scope, the launcher's
		// scope layer (applied with LandlockOff too) grants refer beneath
		// /, so it handles a filesystem right and Landlock refuses every
		// mount call: nothing is lifted, and the VM lane (Linux 6.1)
		// runs the lifting itself.
		lifted := "lifted:true"
		if escSignalScoped() {
			lifted = "lifted:false"
		}
		if !o.res.Success() || !strings.HasPrefix(o.verdict, lifted) || strings.Contains(o.verdict, "READ") {
			t.Errorf("verdict %q (secrets %q): a mask in /etc was lifted and a secret beneath it read; %v", o.verdict, secrets, o)
		}
	}},
}
