// Package sandbox runs commands in rootless Linux sandboxes.
//
// A sandbox is a set of new namespaces (user, pid, mount, network, ipc,
// uts, cgroup) with a private root filesystem, no capabilities and a clean
// environment. It needs no root, no setuid helper and no daemon: only a
// kernel that allows unprivileged user namespaces (see Check).
//
// # Getting started
//
// Run re-executes the program's own binary as the sandbox's init, so the
// program must call Main first thing in main (and in TestMain for tests):
//
//	func main() {
//		sandbox.Main()
//		cmd := sandbox.Command("python3", "-c", "print(6*7)")
//		cmd.Stdout = os.Stdout
//		p, err := sandbox.New(sandbox.Options{}).Run(cmd)
//		if err != nil {
//			log.Fatal(err)
//		}
//		res, err := p.Wait()
//		fmt.Println(res, err) // exit status 0 <nil>
//	}
//
// # The default sandbox
//
// The zero Options give the strict default: a read-only tmpfs root holding
// read-only binds of the host's /usr, /bin, /lib* and /sbin, the host's /etc
// read-only with what an unprivileged user could not read masked (shadow,
// private keys) and the sandbox's own passwd, group, hostname, hosts and
// machine-id over the host's, a fresh /proc with its kernel knobs
// read-only, a minimal /dev, a /sys holding only the host's CPU, NUMA and
// transparent huge page directories, read-only, and writable tmpfs mounts
// at /tmp, /dev/shm and /work, where the command starts, each an eighth of
// the machine's memory (with Limits.Memory, a quarter and no more than the
// limit). The network
// namespace holds only loopback. Everything else of the host is invisible.
// The command's environment is what a login sets (see Cmd.Env).
//
// The command runs as uid 0 inside, mapped to the caller's uid outside, with
// every capability dropped and no_new_privs set, in a new session, with only
// the fds it was given. When the caller is root, uid 0 inside is root
// outside for the files reachable through writable binds: bind writable
// only what the command may change.
//
// # Files and network
//
// Options.Mounts adds read-only (Bind) or writable (BindWritable) binds of
// host paths and extra tmpfs mounts (Tmpfs); Options.Root replaces the
// default root with a host directory such as an unpacked image.
// Options.Network = NetworkHost shares the host's network; NetworkEgress
// gives the sandbox a network of its own, served by Options.Egress in this
// process (package sandbox/egress allows destinations by host name), and
// Box.Forward publishes a port of it on the host.
//
// # Container images
//
// Options.Image runs commands in a container image's root filesystem,
// which Options.Images opens (package sandbox/image's Store pulls from
// registries, OCI layouts and docker save archives into a shared cache;
// this package does not import it):
//
//	sb := sandbox.New(sandbox.Options{Image: "python:3.12-slim", Images: image.Default()})
//	p, err := sb.Run(&sandbox.Cmd{Args: []string{"python3", "-c", "print(1)"}})
//
// The image is never written: the root is an overlay over it whose
// writes go to a tmpfs discarded with the sandbox (a tmpfs copy of the
// image where the kernel refuses overlayfs in a user namespace; Check's
// "overlay" says which). The image's entrypoint, cmd, environment and
// working directory apply unless the Cmd overrides them (see Cmd).
//
// SocketDir is the channel back to the host: a directory at the same path
// on both sides, for unix sockets either side listens on (the
// sandbox/pluginrunner package runs go-plugin plugins this way). A
// connected socket in Cmd.ExtraFiles is another.
//
// # Limits
//
// Options.Limits bounds memory (swap off), processes, CPU bandwidth,
// wall-clock time, CPU time and output bytes:
//
//	opts := sandbox.Options{Limits: sandbox.Limits{
//		Memory: 64 << 20, Pids: 32, CPUs: 1,
//		Time: 2 * time.Second, CPUTime: time.Second, Output: 1 << 20,
//	}}
//
// Memory, Pids, CPUs and CPUTime need a cgroup: each sandbox gets its own,
// beneath Options.CgroupParent or the caller's own cgroup (cgroup v2
// delegated to the caller, or root; cgroup v1 as root or in directories an
// administrator chowned). Result.Limit says which limit ended a run,
// Result.OOMKilled, TimedOut and OutputTruncated the details, and CPUTime
// and MemoryPeak come from the cgroup. Without a usable cgroup Run fails
// with a *FeatureError, unless Options.Degrade allows weaker rlimits.
//
// # System calls and privileges
//
// A seccomp filter is on by default (see package seccomp for what it
// refuses), and so is a Landlock layer where the kernel has one (see
// LandlockMode); the command has no capabilities unless Options.Capabilities lists some, and
// no_new_privs is always set. Options.Seccomp.Rules adds rules over the
// default profile; seccomp.ParseProfile reads them from a file.
// Options.Denials reports each call the filter refuses, so that a program
// that fails inside says what it was refused:
//
//	opts := sandbox.Options{Denials: func(d sandbox.Denial) {
//		log.Printf("refused %s(%#x, ...) = %v in pid %d", d.Syscall, d.Args[0], d.Errno, d.Pid)
//	}}
//
// # Processes
//
// A Process is a running sandbox. Signal forwards a signal to the command;
// Kill, or cancelling the context given to RunContext, kills every process
// of the sandbox at once; Wait returns a Result with the exit code or signal
// and the resources used. If the host program dies, even by SIGKILL, its
// sandboxes die with it.
//
// # Pools and reuse
//
// A cold Run starts the init and builds the sandbox, several milliseconds.
// Options.Pool keeps sandboxes built ahead of time, so that Run only hands
// over the command (Result.Warm); Options.Reuse resets a sandbox after its
// run and puts it back in the pool. Sandbox.Prewarm waits for a full pool
// and Sandbox.Close ends it, waiting until every sandbox it started is gone
// (with a pool, Wait returns when the run's processes are dead, and the
// sandbox is torn down after it):
//
//	sb := sandbox.New(sandbox.Options{Pool: 4, Reuse: true})
//	defer sb.Close()
//
// # Errors
//
// Invalid options give an *OptionError naming the field; a host that lacks
// a feature gives a *FeatureError matching ErrNotSupported, with the fix; a
// failed set-up step or a command that cannot be started gives a
// *SetupError naming the step and path and wrapping the errno, so
// errors.Is(err, fs.ErrNotExist) tells a missing command.
package sandbox
