package sandbox

import (
	"strconv"

	"github.com/corral-dev/corral/sandbox/seccomp"
)

// Options describes a sandbox. The zero value is the strict default: a fresh
// root with the host's system directories read-only, no network but
// loopback, hostname "corral", writable tmpfs mounts at /tmp, /dev/shm and
// /work, where the command starts, each an eighth of the machine's memory
// (with Limits.Memory, a quarter and no more than the limit; see
// Mount.Size).
type Options struct {
	// Root is a host directory to use as the root filesystem (an unpacked
	// image, say), bound read-only. Empty means a fresh tmpfs holding
	// read-only binds of the host's /usr, /bin, /lib* and /sbin and the
	// host's /etc, read-only, with what an unprivileged user could not read
	// masked and the sandbox's own passwd, group, hostname, hosts and
	// machine-id (see the package documentation and README). Mountpoints
	// that Root lacks are created in it.
	Root string

	// Image names a container image to use as the root filesystem, in
	// place of the default root (it cannot be combined with Root):
	// a registry reference ("python:3.12-slim", "registry/name@sha256:..."),
	// a local OCI image layout directory or a docker save archive, as
	// Images understands them. Images resolves it; package sandbox/image's
	// Store is the usual ImageSource. See Cmd for how the image's
	// configuration (entrypoint, cmd, environment, working directory,
	// user) applies.
	//
	// Every booted sandbox (a cold Run's, each pooled or reused one, a Box)
	// opens the image when it boots (with the context of RunContext or
	// Start; a pool's until Close) and closes it once it is torn down; a
	// failure to open it is a *SetupError with Step "image" that unwraps
	// to the source's error. The image's directory is never written: the
	// root is an overlay whose lower layer is the image and whose upper
	// layer is a fresh tmpfs of the default /tmp size (see Mount.Size),
	// writable (nosuid, nodev) and discarded with the sandbox; where the
	// kernel refuses overlayfs in a user namespace (before Linux 5.11, or
	// without the overlay module), the root is a tmpfs of that size
	// holding a copy of the image (regular files, directories and
	// symlinks, with their modes and times; hard links become copies), and
	// an image too big for it fails with ENOSPC. Check's "overlay" says
	// which this host gets. Before Linux 6.6, whose tmpfs has no user
	// extended attributes for the overlay's own, removing a directory of
	// the image that is not empty fails with EIO (Check says so too). The
	// mountpoints the sandbox needs (/proc, /dev, /tmp, /work, ...) are
	// made in the writable layer, and so are the sandbox's /etc/hostname
	// and /etc/hosts, and with NetworkEgress its /etc/resolv.conf naming
	// the egress DNS server. Mounts apply on top as with any root. Landlock
	// (Options.Landlock) lets the command write anywhere in the root, as
	// the mounts do; /dev's tmpfs, which Landlock keeps from writes in the
	// other roots, is read-only by its mount here. The command runs as
	// uid 0 inside, as in every Corral sandbox, whatever the image's user
	// (see Cmd).
	//
	// With Reuse, the root is made read-only once built (a reset could not
	// renew an overlay's upper layer): runs write only to /tmp, /work,
	// /dev/shm and Tmpfs mounts, which the reset renews, and the image's
	// own /etc/hostname, hosts and resolv.conf stay as they are.
	Image string

	// Images resolves Image. Required with Image, refused without it.
	Images ImageSource

	// Mounts are applied in order after the defaults, so a mount must be
	// listed after any mount that contains it (Run refuses the other order,
	// which would hide the inner mount). A mount at or above a default
	// mount (/tmp, /work, /usr, /etc, /dev, ...) replaces the defaults
	// there. A Destination behind a symlink of the default root (/bin on a
	// merged-/usr host) is mounted where the symlink points (/usr/bin).
	// Missing mountpoints are created inside the sandbox's own tmpfs mounts;
	// inside a bind they are created in the bound host directory, and inside
	// a read-only bind they cannot be created. The default /etc is the
	// exception: a mount at a path the host's /etc lacks works, at the cost
	// of a mount per entry of the host's /etc (see README); a mount beneath
	// /etc covers a symlink there instead of following it.
	Mounts []Mount

	// Network selects the network namespace. The default, NetworkNone, is a
	// new namespace with only loopback, up.
	Network Network

	// Egress serves the network of a NetworkEgress sandbox from this
	// process: package sandbox/egress's Policy, which allows connections
	// by host name. Required with NetworkEgress, refused with any other
	// Network.
	Egress Egress

	// Hostname is the sandbox's host name; empty means "corral".
	Hostname string

	// Limits bound the command's memory, processes, CPU, time and output.
	Limits Limits

	// CgroupParent is where each sandbox's cgroup is created. A sandbox
	// gets a cgroup when its Limits need one (Memory, Pids, CPUs, CPUTime)
	// or when CgroupParent is set; its Result then counts CPU time and peak
	// memory from the cgroup rather than from rusage. Empty means
	// the caller's own cgroup (on cgroup v2, which must then be delegated to
	// the caller, or the caller is root). A relative path is beneath the
	// caller's own cgroup (in every v1 hierarchy); an absolute one is from
	// the root of the cgroup filesystem. Without a usable cgroup, Run
	// fails with a *FeatureError if Limits need one, unless Degrade is set.
	CgroupParent string

	// Seccomp is the system-call filter; the zero value is the default
	// profile (see package seccomp).
	Seccomp seccomp.Profile

	// Rlimits are resource limits set on the command's processes.
	Rlimits Rlimits

	// Landlock adds Landlock rules matching the mounts where the kernel has
	// it (see LandlockMode).
	Landlock LandlockMode

	// Capabilities the command keeps, by name ("CAP_NET_BIND_SERVICE" or
	// "net_bind_service"); by default it has none. They are capabilities in
	// the sandbox's user namespace only: power over its own namespaces and
	// files, never over the host's. The default seccomp profile allows the
	// calls that Docker's profile allows with them, except those it always
	// refuses (see package seccomp). CAP_SYS_PTRACE cannot be kept: it would let
	// the command trace the sandbox's init (debuggers need no capability to
	// trace the command's own processes).
	Capabilities []string

	// Degrade lets Run keep going without a cgroup when Limits need one,
	// with the weaker per-process rlimits in its place; Result.Degraded says
	// what was weakened. Without it, a missing feature is an error.
	Degrade bool

	// Pool keeps this many sandboxes built ahead of time (init started,
	// filesystem built, cgroup created, privileges dropped and the filter
	// installed), each waiting for its command, so that Run pays only for
	// handing the command over and its exec. Each pooled sandbox serves one
	// Run; the pool refills in the background. When the pool is empty Run
	// starts a sandbox as it would without one, so a pool never makes Run
	// slower. Runs from the pool have the same isolation, limits and Result
	// as others. With a pool, Wait returns once every process of the run
	// is dead, and the rest of the sandbox (the init, its namespaces, its
	// cgroup) is torn down after it. Call Sandbox.Close to end the waiting
	// sandboxes and wait for those teardowns. A sandbox that fails to
	// build is tried again after a pause that grows to 1 s, or, when
	// Options.Image fails to open, to 1 min (no pull again and again); Run
	// tries on its own each time, and Prewarm returns the error. 0 (the
	// default) keeps none; at most MaxPool.
	Pool int

	// Reuse recycles sandboxes instead of building a new one for every
	// run, for judges and runners that run one tenant's commands one after
	// another. When a run ends (before Wait returns) every process it left
	// is killed; then, off Wait's path, its writable tmpfs mounts (/tmp,
	// /work, /dev/shm and Tmpfs mounts) are emptied down to what they held
	// when built, their roots and the entries they were built with (and the
	// /dev/pts instance's) get back their mode, extended attributes and
	// access and modification times, the init gets back the state a command
	// could change and the next would inherit (its rlimits, oom_score_adj,
	// coredump_filter, and the scheduling policy, nice, CPU affinity and I/O
	// priority of the thread commands start from), the next command gets a
	// new cgroup and IPC namespace, and the sandbox goes back into the pool.
	// A command does not see its init in /proc (hidepid), and so cannot
	// write its files there. With NetworkNone, a run that left sockets in
	// its network namespace (TIME_WAIT entries of its TCP connections,
	// which stay up to a minute, or any other) leaves the next a new one,
	// loopback up, so that no run sees another's connection tuples in
	// /proc/net or finds its ports taken; a run that left none leaves it as
	// it is, with the traffic counters (/proc/net/snmp) its packets moved (a
	// new namespace costs ~0.25 ms of CPU, reading whether one is needed
	// ~0.03 ms). A sandbox whose reset fails (a file it was built with was
	// removed or changed, its mount table changed, a tmpfs lacks free space
	// a run's leftovers still hold, an init limit was lowered past what it
	// may raise back), or whose run was killed by Kill, a limit or the
	// context, is not reused. Runs still share what a reset does not renew:
	// the pid namespace (pids keep counting up), the host's network with
	// NetworkHost, BindWritable directories, which are the host's, and
	// counters of the tmpfs mounts a later run can read: inode numbers keep
	// counting up, and so do a directory's readdir offsets (how many files
	// earlier runs made there), and the change times of the roots and built
	// entries are the last reset's. Needs Pool > 0, and
	// neither Capabilities (a command with capabilities could change what a
	// reset cannot restore) nor a disabled filter (the filter keeps a run
	// from leaving keys in the user's keyrings). With Image, the root is
	// read-only (see Image).
	Reuse bool

	// Init is the path of a separate init binary, built from this module at
	// the same version (package sandbox/corral-init says how), that the
	// sandboxes start as their pid 1 instead of re-executing the program's
	// own binary. For big host programs: their package inits and cgo
	// loading then do not run on every cold start, and a pooled sandbox
	// holds less memory. Empty (the default) re-executes the program, which
	// must then call Main; with Init set, Main is not needed by Run. New
	// refuses, with an *OptionError saying how to rebuild it, a file that
	// is not such an init or was built from another version.
	Init string

	// Denials, when set, is called with each system call the filter
	// (Options.Seccomp) refuses, so that a program failing inside shows
	// what was refused instead of leaving its user to guess. The call
	// still fails as the profile says, with the same errno: the rules',
	// the default EPERM, and ENOSYS for calls newer than the filter's
	// compiler (which libraries probe for, and fall back from). Calls the
	// profile kills (other ABIs, Kill rules) are not reported.
	//
	// The refusals travel as seccomp user notifications, answered by this
	// process: a refused call costs a round trip to it (tens of
	// microseconds, against about one without Denials), and a caller
	// waiting for its answer can be interrupted only by a fatal signal.
	// Each booted sandbox (pooled, reused or a Box: all its runs) has a
	// goroutine that answers them, which holds a thread while it waits,
	// and ends when the sandbox does. Denials is called on that goroutine
	// before the refused call returns: when a run's Wait returns, each of
	// its refusals has been reported, and once Wait (Box.Stop,
	// Sandbox.Close) has torn a sandbox down no more calls come from it.
	// One call at a time for a sandbox, concurrently for several; the
	// refused call waits for it, so it must not block, nor wait for the
	// sandbox. A program inside cannot install a filter with a listener
	// of its own (EBUSY). Requires the filter (not Seccomp.Disabled).
	Denials func(Denial)
}

// MaxPool is the largest Options.Pool.
const MaxPool = 256

// Network is the network a sandbox gets.
type Network int

const (
	// NetworkNone is a private network namespace with only loopback.
	NetworkNone Network = iota
	// NetworkHost shares the host's network namespace.
	NetworkHost
	// NetworkEgress is a new namespace with loopback and an interface,
	// eth0, whose other end is Options.Egress, in this process: what it
	// allows is the sandbox's whole network. eth0 is 10.0.2.100/24 (MTU
	// 65520), its default route goes through 10.0.2.2, IPv6 is off, and
	// the default root's /etc/resolv.conf names 10.0.2.3 (with
	// Options.Root, the root's own must). The init makes eth0 with
	// /dev/net/tun, which must be readable and writable by the caller
	// (Check's "tun"). Box.Dial and Forward (and Process's) reach the
	// sandbox's servers from the host.
	NetworkEgress
)

func (n Network) String() string {
	switch n {
	case NetworkNone:
		return "none"
	case NetworkHost:
		return "host"
	case NetworkEgress:
		return "egress"
	}
	return "Network(" + strconv.Itoa(int(n)) + ")"
}

// MountType is the kind of a Mount.
type MountType int

const (
	// BindMount makes the host path Source visible at Destination.
	BindMount MountType = iota
	// TmpfsMount puts a fresh, writable tmpfs of Size bytes at Destination.
	TmpfsMount
)

func (t MountType) String() string {
	switch t {
	case BindMount:
		return "bind"
	case TmpfsMount:
		return "tmpfs"
	}
	return "MountType(" + strconv.Itoa(int(t)) + ")"
}

// Mount is a filesystem mount inside the sandbox. Bind mounts are read-only
// unless Writable is set; every mount is nosuid and nodev.
type Mount struct {
	Type        MountType
	Source      string // host path, for BindMount
	Destination string // absolute path inside the sandbox
	Writable    bool   // for BindMount: allow writes through to the host
	// Size is, for TmpfsMount, the most bytes the tmpfs holds. 0 means
	// the size of the default /tmp: an eighth of the machine's memory, or,
	// with Limits.Memory, a quarter and no more than the limit. Tmpfs pages are memory:
	// under a cgroup they are charged to Limits.Memory with the processes',
	// so a size up to the limit takes nothing from it, and a command that
	// fills the mount meets the limit (the OOM killer) or the size (write
	// fails with ENOSPC; a store to a mapping past it gets SIGBUS),
	// whichever comes first. Without a cgroup (no Limits.Memory, or
	// Options.Degrade's rlimits) nothing else bounds them, and killing the
	// processes does not free them: they stay until the files are removed,
	// the sandbox ends or a reused sandbox is reset.
	Size int64
}

// Bind returns a read-only bind mount of the host path src at dst.
func Bind(src, dst string) Mount { return Mount{Type: BindMount, Source: src, Destination: dst} }

// BindWritable returns a writable bind mount of the host path src at dst.
func BindWritable(src, dst string) Mount {
	return Mount{Type: BindMount, Source: src, Destination: dst, Writable: true}
}

// Tmpfs returns a tmpfs mount of size bytes at dst (0 means the default
// size, see Mount.Size).
func Tmpfs(dst string, size int64) Mount {
	return Mount{Type: TmpfsMount, Destination: dst, Size: size}
}

// Rlimits are per-process resource limits (setrlimit) for the command. A
// zero field leaves the limit as the caller has it, except Core: core dumps
// are off unless Core allows them; and the last three, which bound what the
// kernel counts per user rather than per cgroup, so that one sandbox cannot
// take all of the caller's share: zero is the sandbox's default, never more
// than the caller's own hard limit.
type Rlimits struct {
	Core      int64  // largest core dump in bytes; 0: no core dumps
	OpenFiles uint64 // most open file descriptors (RLIMIT_NOFILE)
	FileSize  int64  // largest file the command may write, in bytes (RLIMIT_FSIZE)
	Stack     int64  // stack size in bytes (RLIMIT_STACK)

	LockedMemory   int64  // bytes locked by mlock or SHM_LOCK (RLIMIT_MEMLOCK); 0: 1 MiB
	PendingSignals uint64 // signals queued and not yet delivered (RLIMIT_SIGPENDING); 0: 1024
	MessageQueues  int64  // bytes of POSIX message queues (RLIMIT_MSGQUEUE); 0: 200 KiB
}
