package sandbox

// The defaults a command gets without asking: its environment and the
// sizes of its tmpfs mounts.

import (
	"os"
	"sync"

	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// The command's user: uid 0 inside (a one-id map), named root in the
// generated /etc/passwd and in every image.
const commandUser = "root"

// defaultEnv returns the variables a command gets when its Env lacks them,
// as a login (login, su -, systemd's User=) sets them: PATH, HOME, USER and
// LOGNAME, and LANG=C.UTF-8 where the sandbox's C library has that locale.
//
// HOME is WorkDir, whatever the root: it is the home the generated
// /etc/passwd gives root, and the sandbox's writable directory, where tools
// keep their caches and settings (go build's GOCACHE, git config --global).
// An image's own passwd (Options.Root) may name another home, /root say,
// but the image is bound read-only, so a HOME there could not be written.
func (s *Sandbox) defaultEnv() []string {
	env := []string{"PATH=" + isolate.DefaultPath, "HOME=" + WorkDir, "USER=" + commandUser, "LOGNAME=" + commandUser}
	if s.utf8Locale {
		env = append(env, "LANG=C.UTF-8")
	}
	return env
}

// hostUTF8Locale reports, once, whether the host's /usr has glibc's C.UTF-8
// locale, which the default root shows.
var hostUTF8Locale = sync.OnceValue(func() bool { return hasUTF8Locale(nil) })

// utf8LocaleDirs are where glibc keeps a compiled C.UTF-8 (Debian and
// Ubuntu ship it as C.utf8; glibc 2.35 and newer also have it built in, but
// a root without the directory may be older, where LANG=C.UTF-8 would make
// perl and others warn that setting the locale failed).
var utf8LocaleDirs = []string{"usr/lib/locale/C.utf8", "usr/lib/locale/C.UTF-8"}

// hasUTF8Locale reports whether the root (nil: the host's /) has a C.UTF-8
// locale directory.
func hasUTF8Locale(root *os.Root) bool {
	for _, d := range utf8LocaleDirs {
		var st os.FileInfo
		var err error
		if root != nil {
			st, err = root.Stat(d)
		} else {
			st, err = os.Stat("/" + d)
		}
		if err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// utf8Locale reports whether the sandbox's root has C.UTF-8: the host's
// /usr for the default root, the image's own for Options.Root (looked up
// inside it: a symlink there cannot point into the host's files).
func (o *Options) utf8Locale() bool {
	if o.Root == "" {
		return hostUTF8Locale()
	}
	r, err := os.OpenRoot(o.Root)
	if err != nil {
		return false
	}
	defer r.Close()
	return hasUTF8Locale(r)
}

// machineMemory is the host's physical memory in bytes (0 if unknown).
var machineMemory = sync.OnceValue(func() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
})

// fallbackMachine is the machine's memory tmpSize assumes where it is unknown.
const fallbackMachine = 4 << 30

// tmpSize is the size of the default writable tmpfs mounts (/tmp, /work,
// /dev/shm) and of Tmpfs mounts of Size 0: with Limits.Memory, a quarter of
// the machine's memory and no more than the limit; without it, an eighth of
// the machine's memory.
//
// Tmpfs pages are memory that killing a process does not free: they stay
// until the file is removed or the sandbox ends (or a reused sandbox is
// reset), and the OOM killer, which judges processes by their own memory,
// does not see them. Under a cgroup the pages are charged to the command's
// memory limit, so the limit bounds the mounts and the processes together
// and a size up to it takes nothing from it; a command that fills them
// meets the limit (the OOM killer) or the size (ENOSPC, or SIGBUS for a
// mapping), whichever comes first. Without a limit nothing but the size
// bounds them: an eighth each keeps the three of one sandbox below 3/8 of
// the machine (the kernel's own default for one tmpfs, and systemd's for
// /tmp, is half), which still leaves a compiler room (a cold-cache go build
// of a small net/http program writes about 175 MB). Without a cgroup
// (Options.Degrade's rlimits) the pages are charged to nothing and the
// size is their only bound, Limits.Memory for each mount.
func (o *Options) tmpSize() int64 {
	m := machineMemory()
	if m <= 0 {
		m = fallbackMachine
	}
	if o.Limits.Memory > 0 {
		return min(o.Limits.Memory, m/4&^(1<<20-1)) // whole MiB
	}
	return m / 8 &^ (1<<20 - 1)
}
