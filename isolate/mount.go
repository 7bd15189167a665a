package isolate

import (
	"path"
	"strconv"

	"github.com/corral-dev/corral/internal/paths"
	"golang.org/x/sys/unix"
)

// Kind says what a Mount entry puts at its Target.
type Kind string

// The kinds of Mount entries.
const (
	Bind    Kind = "bind"    // the host path Source, recursively bound
	Device  Kind = "device"  // a host device node Source, bound read-only without nodev
	Tmpfs   Kind = "tmpfs"   // a fresh tmpfs of Size bytes and Mode; with ReadOnly, made read-only once the entries in it are built
	Proc    Kind = "proc"    // a fresh proc for the sandbox's pid namespace
	Devpts  Kind = "devpts"  // a new devpts instance (ptmx mode 0666) of at most MaxPTYs terminals
	Mqueue  Kind = "mqueue"  // the POSIX message queues of the sandbox's IPC namespace
	Rebind  Kind = "rebind"  // Target bound onto itself read-only (e.g. /proc/sys)
	Mask    Kind = "mask"    // Target hidden: an unopenable /dev/null (nodev) over a file, an empty read-only tmpfs over a directory
	Symlink Kind = "symlink" // Target made a symlink to Data
	File    Kind = "file"    // Target made a regular file holding Data, with Mode (see Mount)
)

// MaxPTYs is the most pseudo-terminals a Devpts instance holds at once:
// the kernel's pool (kernel.pty.max, 4096 by default, less
// kernel.pty.reserve, 1024, kept for the host's own devpts) is shared by
// every devpts instance, so without a bound one sandbox could take all of
// it. 64 is more than an interactive shell, a terminal multiplexer or a
// test suite driving programs through ptys uses at once; it takes 48
// sandboxes holding their last terminal to empty the shared pool, and the
// host's reserve stays out of their reach.
const MaxPTYs = 64

// Mount is one entry of the sandbox's filesystem. Entries are applied in
// order, so a mount must come after any mount whose Target contains its own;
// an entry whose Target lies beneath an earlier mount is created inside it.
// Targets are resolved inside the new root, so they should not pass through
// symlinks that only later entries make resolvable.
//
// A File is written into the root, or into the tmpfs that holds its Target.
// Beneath any other mount (a bind of a host directory, say) it is not
// written there: it is written into the root beneath the mountpoint that
// hides it, and bound read-only over its Target, which must exist in that
// mount (a missing one fails, or with Optional skips the entry) and whose
// last component is not followed (see NoFollow). Such a File needs the
// fresh tmpfs root (Root.Dir empty). In an Image's root a File replaces
// what the image has at its Target (a symlink among them, which is never
// followed), but a directory.
type Mount struct {
	Kind     Kind
	Source   string // host path, for Bind and Device: canonical (no symlinks; see OpenSources)
	Target   string // absolute path inside the sandbox
	ReadOnly bool
	Optional bool   // skip the entry when Source (or, for Mask and Rebind, Target) does not exist
	NoFollow bool   // a symlink at Target's last component is mounted over itself, not followed
	Size     int64  // tmpfs size in bytes; 0 means the kernel's default
	Mode     uint32 // tmpfs root directory mode, or File mode
	Data     string // Symlink target, or File contents
}

func (m Mount) isMount() bool { return m.Kind != Symlink && m.Kind != File }

// needsSource reports whether the entry is backed by a tree opened by OpenSources.
func (m Mount) needsSource() bool { return m.Kind == Bind || m.Kind == Device || m.Kind == Mask }

// BuildRoot mounts the root at staging (a directory of the current mount
// namespace, e.g. /tmp; for an Image, at root.Staged(staging)) and applies
// mounts beneath it. The root itself is made read-only (and nosuid, nodev)
// before the mounts are attached, so only the mounts are writable; an
// Image's stays writable unless root.ReadOnly. Run
// PivotRoot(root.Staged(staging)) next.
func BuildRoot(staging string, root Root, mounts []Mount, src *Sources) error {
	defer src.Close()
	if root.Image {
		fd := src.root
		src.root = -1
		if fd < 0 {
			return stepErr("image", root.Dir, unix.EBADF)
		}
		if _, err := buildImageRoot(staging, root, fd); err != nil {
			return err
		}
		staging = root.Staged(staging)
	} else if src.root >= 0 {
		fd := src.root
		src.root = -1
		if err := moveMount(fd, unix.AT_FDCWD, staging); err != nil {
			return stepErr("root", root.Dir, err)
		}
	} else if err := mountTmpfs(unix.AT_FDCWD, staging, 0, 0o755, false); err != nil {
		return stepErr("tmpfs", "/", err)
	}
	rootfd, err := unix.Open(staging, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stepErr("root", staging, err)
	}
	defer unix.Close(rootfd)
	if root.Image && root.WorkDir != "" {
		// Into the image's writable layer only, ahead of every mount
		// (never into a host directory bound in); its error, if any, is
		// the command's chdir's to report.
		if fd, err := mkdirAllIn(rootfd, root.WorkDir); err == nil {
			unix.Close(fd)
		}
	}

	skip := make([]bool, len(mounts))
	for i, m := range mounts {
		skip[i] = m.needsSource() && src.fds[i] < 0
	}
	// holder returns the index of the innermost earlier mount that covers
	// entry i's target, or -1: the entry is then created inside that
	// mount once the mount is attached. Mounts come in nesting order, so
	// the last one that covers the target is the innermost.
	holder := func(i int) int {
		h := -1
		for j, o := range mounts[:i] {
			if !skip[j] && o.isMount() && paths.Beneath(mounts[i].Target, o.Target) {
				h = j
			}
		}
		return h
	}
	nested := func(i int) bool { return holder(i) >= 0 }
	// bound says entry i is a File beneath a mount it must not be written
	// into (see Mount): its copy in the root is bound over its target.
	bound := func(i int) bool {
		h := holder(i)
		return mounts[i].Kind == File && h >= 0 && mounts[h].Kind != Tmpfs
	}
	copies := make([]int, len(mounts)) // detached binds of bound Files' copies
	for i := range copies {
		copies[i] = -1
	}
	defer func() {
		for _, fd := range copies {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	// Phase 1: everything that lives directly in the root: mountpoints and
	// files, and the copies of the bound Files beneath their mountpoints.
	for i, m := range mounts {
		if bound(i) {
			if root.Dir != "" && !root.Image {
				return stepErr("file", m.Target, unix.EINVAL) // never written into a host directory
			}
			fd, err := copyFile(rootfd, m, root.Image)
			if err != nil {
				return stepErr("file", m.Target, err)
			}
			copies[i] = fd
			continue
		}
		if skip[i] || nested(i) || m.Kind == Mask || m.Kind == Rebind {
			continue
		}
		if err := prepare(rootfd, m, src.fds[i], root.Image); err != nil {
			return err
		}
	}
	// Phase 2: the root itself becomes read-only (an Image's only with
	// ReadOnly: it is the overlay, or copy, that takes the writes).
	attrs := uint64(unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
	if root.Image && !root.ReadOnly {
		attrs &^= unix.MOUNT_ATTR_RDONLY
	}
	if err := setAttr(rootfd, attrs); err != nil {
		return stepErr("remount read-only", "/", err)
	}
	// Phase 3: attach the mounts in order; entries nested in them are created as we go.
	var readOnly []string // read-only tmpfs mounts, writable until phase 4
	for i, m := range mounts {
		if skip[i] {
			continue
		}
		if copies[i] >= 0 {
			fd := copies[i]
			copies[i] = -1
			if err := attachCopy(rootfd, m, fd); err != nil {
				return err
			}
			continue
		}
		if !m.isMount() {
			if nested(i) {
				if err := prepare(rootfd, m, -1, root.Image); err != nil {
					return err
				}
			}
			continue
		}
		fd := src.fds[i]
		src.fds[i] = -1 // attach owns it now
		if err := attach(rootfd, m, fd); err != nil {
			return err
		}
		if m.Kind == Tmpfs && m.ReadOnly {
			readOnly = append(readOnly, m.Target)
		}
	}
	// Phase 4: a read-only tmpfs, now holding its mountpoints and files,
	// becomes read-only (itself: the mounts on it keep their own flags).
	for _, t := range readOnly {
		if err := makeReadOnly(rootfd, t); err != nil {
			return stepErr("remount read-only", t, err)
		}
	}
	return nil
}

// copyFile writes the File m at its target in the root (beneath the
// mountpoint that will hide it), with replace what is there (writeFileIn),
// and returns a detached bind of it.
func copyFile(rootfd int, m Mount, replace bool) (int, error) {
	if err := writeFileIn(rootfd, m.Target, []byte(m.Data), m.Mode, replace); err != nil {
		return -1, err
	}
	fd, err := resolveIn(rootfd, m.Target, true)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fd)
	return unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
}

// attachCopy binds the copy fd of the File m over its target, read-only.
func attachCopy(rootfd int, m Mount, fd int) error {
	tfd, err := resolveIn(rootfd, m.Target, true)
	if err == unix.ENOENT && m.Optional {
		unix.Close(fd)
		return nil
	}
	if err != nil {
		unix.Close(fd)
		return stepErr("mountpoint", m.Target, err)
	}
	defer unix.Close(tfd)
	attrs := uint64(unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC)
	return stepErr("file", m.Target, graft(fd, attrs, tfd))
}

// makeReadOnly makes the mount at p (inside the root) read-only, not the
// mounts beneath it.
func makeReadOnly(rootfd int, p string) error {
	fd, err := resolveIn(rootfd, p, false)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
}

// prepare creates a mountpoint, file or symlink in the root; a file with
// replace takes the place of what is there (writeFileIn).
func prepare(rootfd int, m Mount, srcfd int, replace bool) error {
	switch m.Kind {
	case Symlink:
		dir, err := mkdirAllIn(rootfd, path.Dir(m.Target))
		if err != nil {
			return stepErr("mkdir", path.Dir(m.Target), err)
		}
		defer unix.Close(dir)
		return stepErr("symlink", m.Target, unix.Symlinkat(m.Data, dir, path.Base(m.Target)))
	case File:
		return stepErr("write", m.Target, writeFileIn(rootfd, m.Target, []byte(m.Data), m.Mode, replace))
	}
	fd, err := ensureTarget(rootfd, m.Target, m, srcfd)
	if err != nil {
		return stepErr("mountpoint", m.Target, err)
	}
	unix.Close(fd)
	return nil
}

// attach mounts one entry at its target.
func attach(rootfd int, m Mount, srcfd int) error {
	var tfd int
	var err error
	if m.Kind == Mask || m.Kind == Rebind {
		tfd, err = resolveIn(rootfd, m.Target, m.NoFollow)
		if err == unix.ENOENT && m.Optional {
			if srcfd >= 0 {
				unix.Close(srcfd)
			}
			return nil
		}
	} else {
		tfd, err = ensureTarget(rootfd, m.Target, m, srcfd)
	}
	if err != nil {
		if srcfd >= 0 {
			unix.Close(srcfd)
		}
		return stepErr("mountpoint", m.Target, err)
	}
	defer unix.Close(tfd)
	step := string(m.Kind)
	switch m.Kind {
	case Bind, Device:
		attrs := uint64(unix.MOUNT_ATTR_NOSUID)
		if m.Kind == Bind {
			attrs |= unix.MOUNT_ATTR_NODEV
		}
		// A device node is always read-only: reads and writes reach the
		// device, but its inode (mode, owner, times) stays the host's.
		if m.ReadOnly || m.Kind == Device {
			attrs |= unix.MOUNT_ATTR_RDONLY
		}
		return stepErr(step, m.Target, graft(srcfd, attrs, tfd))
	case Tmpfs:
		return stepErr(step, m.Target, mountTmpfs(tfd, "", m.Size, m.Mode, false)) // read-only in phase 4
	case Proc:
		// hidepid=ptraceable: a process sees in /proc only the processes it
		// may ptrace, so the command does not see its init (not dumpable)
		// nor its threads, and cannot write their files (oom_score_adj,
		// coredump_filter), which every later command of a reused sandbox
		// would inherit. Not hidepid=invisible: it exempts the members of
		// its gid= group, root's by default, which a command of a sandbox
		// started by root is. A kernel that refuses the option (those
		// before 5.8, which have no per-instance proc options) gets a plain
		// proc: a reuse's reset still checks the init's state.
		attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
		err := mountFS(tfd, "proc", [][2]string{{"hidepid", "ptraceable"}}, attrs)
		if err == unix.EINVAL {
			err = mountFS(tfd, "proc", nil, attrs)
		}
		return stepErr(step, m.Target, err)
	case Devpts:
		opts := [][2]string{{"newinstance", ""}, {"ptmxmode", "0666"}, {"mode", "0620"}, {"max", strconv.Itoa(MaxPTYs)}}
		return stepErr(step, m.Target, mountFS(tfd, "devpts", opts, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC))
	case Mqueue:
		return stepErr(step, m.Target, mountFS(tfd, "mqueue", nil, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC))
	case Rebind:
		tree, err := unix.OpenTree(tfd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
		if err != nil {
			return stepErr(step, m.Target, err)
		}
		return stepErr(step, m.Target, graft(tree, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, tfd))
	case Mask:
		var st unix.Stat_t
		if err := unix.Fstat(tfd, &st); err != nil {
			unix.Close(srcfd)
			return stepErr(step, m.Target, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			unix.Close(srcfd)
			return stepErr(step, m.Target, mountTmpfs(tfd, "", 4096, 0o555, true))
		}
		return stepErr(step, m.Target, graft(srcfd, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, tfd))
	}
	return stepErr(step, m.Target, unix.EINVAL)
}
