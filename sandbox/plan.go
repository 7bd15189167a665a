package sandbox

import (
	"os"
	"path"
	"strings"

	"github.com/corral-dev/corral/internal/paths"
	"github.com/corral-dev/corral/isolate"
)

const (
	defaultHostname = "corral"
	// WorkDir is the writable directory where commands start by default.
	WorkDir = "/work"
)

// systemDirs are bound read-only from the host into the default root; a
// host symlink (merged /usr) is recreated as the same symlink.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}

// procReadOnly and procMasked harden the sandbox's /proc the way container
// runtimes do: kernel knobs read-only, kernel internals hidden.
var (
	procReadOnly = []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"}
	procMasked   = []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
		"/proc/latency_stats", "/proc/acpi", "/proc/scsi", "/proc/kallsyms", "/proc/kpageflags",
		"/proc/kpagecount", "/proc/kpagecgroup", "/proc/slabinfo", "/proc/vmallocinfo", "/proc/config.gz"}
)

// sysDirs are the parts of the host's sysfs a sandbox sees, bound
// read-only into an otherwise empty, read-only /sys: what language
// runtimes and tools read to size themselves. The CPUs (online, possible,
// topology, caches, frequencies: glibc's get_nprocs and get_nprocs_conf,
// lscpu, OpenBLAS, hwloc, Node's os.cpus), the NUMA nodes (lscpu, libnuma,
// the JVM) and transparent huge pages (the Go runtime reads
// hpage_pmd_size, the JVM and jemalloc read enabled). The rest of sysfs is
// not there: /sys/firmware (ACPI tables, EFI variables), every device and
// its attributes, /sys/kernel's knobs, debugfs and tracefs, the cgroup
// filesystems, /sys/class/net. Read-only, a bind's writable files (CPU
// hotplug, cpufreq governors, THP modes), which a caller that is root could
// otherwise write as the host's root, fail with EROFS.
var sysDirs = []string{"/sys/devices/system/cpu", "/sys/devices/system/node", "/sys/kernel/mm/transparent_hugepage"}

// plan turns validated options into the ordered mount entries the sandbox
// init applies.
func (o *Options) plan(lstat func(string) (os.FileInfo, error), readlink func(string) (string, error)) []isolate.Mount {
	var ms []isolate.Mount
	add := func(m isolate.Mount) { ms = append(ms, m) }
	hostname := o.Hostname
	if hostname == "" {
		hostname = defaultHostname
	}
	tmpSize := o.tmpSize()
	if o.Image != "" {
		for _, m := range o.planImageEtc(hostname) {
			add(m)
		}
	} else if o.Root == "" {
		for _, d := range systemDirs {
			st, err := lstat(d)
			switch {
			case err != nil:
			case st.Mode()&os.ModeSymlink != 0:
				if target, err := readlink(d); err == nil {
					add(isolate.Mount{Kind: isolate.Symlink, Target: d, Data: target})
				}
			case st.IsDir():
				add(isolate.Mount{Kind: isolate.Bind, Source: d, Target: d, ReadOnly: true, Optional: true})
			}
		}
		for _, m := range o.planEtc(hostname, etcFS()) {
			add(m)
		}
	}
	add(isolate.Mount{Kind: isolate.Proc, Target: "/proc"})
	for _, p := range procReadOnly {
		add(isolate.Mount{Kind: isolate.Rebind, Target: p, Optional: true})
	}
	for _, p := range procMasked {
		add(isolate.Mount{Kind: isolate.Mask, Target: p, Optional: true})
	}
	add(isolate.Mount{Kind: isolate.Tmpfs, Target: "/sys", Mode: 0o555, Size: 1 << 20, ReadOnly: true})
	for _, d := range sysDirs {
		add(isolate.Mount{Kind: isolate.Bind, Source: d, Target: d, ReadOnly: true, Optional: true})
	}
	// An image's root is writable, and Landlock then allows writes
	// under / (landlock.go): /dev's tmpfs is kept from them by its mount.
	add(isolate.Mount{Kind: isolate.Tmpfs, Target: "/dev", Mode: 0o755, Size: 1 << 20, ReadOnly: o.Image != ""})
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		add(isolate.Mount{Kind: isolate.Device, Source: "/dev/" + d, Target: "/dev/" + d, Optional: true})
	}
	add(isolate.Mount{Kind: isolate.Devpts, Target: "/dev/pts"})
	add(isolate.Mount{Kind: isolate.Symlink, Target: "/dev/ptmx", Data: "pts/ptmx"})
	add(isolate.Mount{Kind: isolate.Tmpfs, Target: "/dev/shm", Mode: 0o1777, Size: tmpSize})
	if !o.Reuse {
		// POSIX message queues (mq_open), as Docker mounts them. Not with
		// Reuse: each run gets a new IPC namespace, and this mount would
		// show the first one's queues to every run.
		add(isolate.Mount{Kind: isolate.Mqueue, Target: "/dev/mqueue"})
	}
	for i, l := range []string{"stdin", "stdout", "stderr"} {
		add(isolate.Mount{Kind: isolate.Symlink, Target: "/dev/" + l, Data: "/proc/self/fd/" + string(rune('0'+i))})
	}
	add(isolate.Mount{Kind: isolate.Symlink, Target: "/dev/fd", Data: "/proc/self/fd"})
	add(isolate.Mount{Kind: isolate.Tmpfs, Target: "/tmp", Mode: 0o1777, Size: tmpSize})
	add(isolate.Mount{Kind: isolate.Tmpfs, Target: WorkDir, Mode: 0o755, Size: tmpSize})

	defaults := len(ms)
	for _, m := range o.Mounts {
		dest := throughSymlinks(ms[:defaults], m.Destination)
		// In the default root, a mount in /etc covers a symlink there (the
		// host's /etc/localtime) instead of what it points to.
		e := isolate.Mount{Target: dest, NoFollow: o.Root == "" && o.Image == "" && paths.Beneath(dest, "/etc")}
		switch m.Type {
		case BindMount:
			e.Kind, e.Source, e.ReadOnly = isolate.Bind, m.Source, !m.Writable
		case TmpfsMount:
			e.Kind, e.Size, e.Mode = isolate.Tmpfs, m.Size, 0o755
			if e.Size == 0 {
				e.Size = tmpSize
			}
			if dest == "/tmp" {
				e.Mode = 0o1777
			}
		}
		ms, defaults = replaceDefaults(ms, defaults, e)
	}
	return ms
}

// planImageEtc returns the files an image root gets in /etc, written into
// its overlay (or copy): hostname and hosts naming the sandbox's host name
// and, with NetworkEgress, resolv.conf naming the egress network's DNS
// server. Each takes the place of what the image has there: a symlink
// (systemd-resolved's resolv.conf) is replaced in the writable layer,
// never followed. None under Options.Reuse, whose root is read-only: the
// image's own stay.
func (o *Options) planImageEtc(hostname string) []isolate.Mount {
	if o.Reuse {
		return nil
	}
	file := func(name, data string) isolate.Mount {
		return isolate.Mount{Kind: isolate.File, Target: "/etc/" + name, Mode: 0o644, Data: data}
	}
	ms := []isolate.Mount{
		file("hostname", hostname+"\n"),
		file("hosts", "127.0.0.1\tlocalhost "+hostname+"\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
	}
	if o.Network == NetworkEgress {
		ms = append(ms, file("resolv.conf", egressResolvConf))
	}
	return ms
}

// replaceDefaults adds the user's mount e to ms, whose first n entries are
// the defaults. If defaults lie at or beneath e's target, e takes the place
// of the first of them and the others are dropped: a user mount at /tmp,
// /etc or /dev replaces the default contents there. Otherwise e goes last.
// It returns the new list and the new number of defaults.
func replaceDefaults(ms []isolate.Mount, n int, e isolate.Mount) ([]isolate.Mount, int) {
	out := make([]isolate.Mount, 0, len(ms)+1)
	newN := n
	placed := false
	for i, m := range ms {
		switch {
		case i >= n || m.Target != e.Target && !paths.Beneath(m.Target, e.Target):
			out = append(out, m)
		case !placed:
			out = append(out, e)
			placed = true
		default:
			newN--
		}
	}
	if !placed {
		out = append(out, e)
	}
	return out, newN
}

// throughSymlinks rewrites dest through the symlinks the plan creates (a
// merged-/usr host's /bin -> usr/bin), so that /bin/sh is mounted at
// /usr/bin/sh, after /usr exists.
func throughSymlinks(ms []isolate.Mount, dest string) string {
	for _, m := range ms {
		if m.Kind == isolate.Symlink && paths.Beneath(dest, m.Target) && !strings.HasPrefix(m.Data, "/") && !strings.Contains(m.Data, "..") {
			return path.Join(path.Dir(m.Target), m.Data, strings.TrimPrefix(dest, m.Target))
		}
	}
	return dest
}
