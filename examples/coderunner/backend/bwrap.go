package backend

// The bubblewrap backend: one bwrap process per step, the way code runners
// are commonly built on bubblewrap, with the same view of the host as
// Corral's default sandbox and the limits bwrap can give it (rlimits, a
// timer, capped pipes). It exists for the side-by-side load test.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"golang.org/x/sys/unix"
)

// bwrapPath is the sandboxed command's PATH (Corral's default PATH).
const bwrapPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// bwrapNobody is the host uid and gid bwrap runs as when the server is
// root: RLIMIT_NPROC binds no process whose real uid is 0, so a root server
// that ran bwrap as itself could not bound a fork bomb.
const bwrapNobody = 65534

// bwrapEtcSecrets are hidden in the sandbox's /etc whenever they exist, as
// in Corral's default sandbox.
var bwrapEtcSecrets = []string{
	"shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "security/opasswd",
	"ssh/ssh_host_rsa_key", "ssh/ssh_host_dsa_key", "ssh/ssh_host_ecdsa_key", "ssh/ssh_host_ed25519_key",
	"ssl/private", "krb5.keytab",
}

// errBwrapClosed is returned by Run after Close.
var errBwrapClosed = errors.New("backend: bwrap: closed")

// bwrapBackend runs each step of a job as its own bwrap process, the
// steps of a job sharing a fresh host directory bound at /work.
type bwrapBackend struct {
	bwrap   string              // the bwrap program
	prlimit string              // util-linux prlimit, run inside the sandbox
	cred    *syscall.Credential // bwrap's uid and gid; nil: the server's own
	base    string              // the host directory holding the jobs' work dirs
	view    []string            // bwrap's arguments for the view of the host
	binds   []string            // Config.Binds

	ctx    context.Context // ended by Close
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

// NewBwrap returns the bubblewrap backend. It runs one sandbox to learn
// that bwrap works on this host, and fails with bwrap's own words if not.
// cfg's pool and reuse mean nothing to it: every step is a new bwrap.
//
// Each step runs as
//
//	bwrap --unshare-all --die-with-parent --new-session --as-pid-1 [view] -- prlimit [limits] -- argv
//
// The view is Corral's default one: /usr, /bin, /lib* and /etc (its
// secrets hidden) read-only from the host, the language's Binds, a fresh
// /proc and /dev, a tmpfs /tmp of the memory limit's size, and the job's
// work dir at /work, a host temp dir removed when the job ends.
//
// The limits are rlimits set by prlimit inside the sandbox, after bwrap has
// made its user namespace, so that RLIMIT_NPROC counts the job's own
// processes only: CPU time (RLIMIT_CPU, whole seconds), memory
// (RLIMIT_DATA: RLIMIT_AS would stop node and the JVM, which reserve far
// more address space than they use), processes (RLIMIT_NPROC) and file size
// (RLIMIT_FSIZE, the memory limit). Wall time is a timer that kills the
// sandbox; output beyond the limit kills it too. The command is the
// sandbox's pid 1 (--as-pid-1), so when it ends the kernel ends whatever it
// left behind, and its rusage (CPU time, peak memory) reaches the server.
//
// What bwrap cannot do that Corral does: bound the memory of the whole
// sandbox (tmpfs pages, page cache) or the disk the work dir uses, and tell
// which limit a failed step met other than by its traces; see bwrapLimit.
func NewBwrap(cfg Config) (job.Backend, error) {
	b := &bwrapBackend{}
	var err error
	if b.bwrap, err = exec.LookPath("bwrap"); err != nil {
		return nil, fmt.Errorf("backend: bwrap: %w (install the bubblewrap package)", err)
	}
	// prlimit runs inside the sandbox, where only the host's /usr is.
	b.prlimit = "/usr/bin/prlimit"
	if _, err := os.Stat(b.prlimit); err != nil {
		return nil, fmt.Errorf("backend: bwrap: %w (install util-linux)", err)
	}
	if os.Geteuid() == 0 {
		b.cred = &syscall.Credential{Uid: bwrapNobody, Gid: bwrapNobody}
	}
	if err := bwrapCloseOnExec(); err != nil {
		return nil, fmt.Errorf("backend: bwrap: %w", err)
	}
	if b.cred != nil && !bwrapReachable(os.TempDir()) {
		return nil, fmt.Errorf("backend: bwrap: the temp dir %s: uid %d, which bwrap runs as when the server is root, cannot enter it to bind the work dirs in it: set TMPDIR to a directory every user can enter", os.TempDir(), bwrapNobody)
	}
	if b.base, err = os.MkdirTemp("", "coderunner-bwrap-"); err != nil {
		return nil, fmt.Errorf("backend: bwrap: %w", err)
	}
	// Traversable by the uid bwrap runs as, listable only by the server.
	// The empty file hides /etc's secrets (a bind of /dev/null would not
	// open: bwrap's read-only binds are nodev).
	empty := filepath.Join(b.base, "empty")
	err = os.Chmod(b.base, 0o711)
	if err == nil {
		err = os.WriteFile(empty, nil, 0o444)
	}
	if err != nil {
		os.RemoveAll(b.base)
		return nil, fmt.Errorf("backend: bwrap: %w", err)
	}
	b.view = bwrapView(empty)
	for _, d := range cfg.Binds {
		if b.cred != nil && !bwrapReachable(d) {
			os.RemoveAll(b.base)
			return nil, fmt.Errorf("backend: bwrap: bind %s: uid %d, which bwrap runs as when the server is root, cannot reach it: use a directory every user can enter (for Go's cache, -go-cache)", d, bwrapNobody)
		}
		b.binds = append(b.binds, d)
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if err := b.probe(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// bwrapCloseOnExec marks every fd of the server above stderr close-on-exec.
// Go opens its own so, but an fd the server inherited without the flag
// would pass through exec and bwrap (which closes nothing) into every
// sandbox.
func bwrapCloseOnExec() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // ReadDir's own fd, closed by now
		}
		if flags&unix.FD_CLOEXEC == 0 {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err != nil {
				return fmt.Errorf("marking fd %d close-on-exec: %w", fd, err)
			}
		}
	}
	return nil
}

// bwrapReachable reports whether any user may enter the directory d and
// every directory above it (bwrap, not root, binds d by its path).
func bwrapReachable(d string) bool {
	for p := d; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == "/" || p == "." {
			return true
		}
	}
}

// probe runs /bin/true in a sandbox.
func (b *bwrapBackend) probe() error {
	lang := &job.Language{Name: "probe", Run: []string{"/bin/true"}}
	lim := job.Limits{WallTime: 10 * time.Second, CPUTime: time.Second, Memory: 64 << 20, Pids: 8, Output: 4096}
	out, err := b.Run(context.Background(), &job.Job{Language: lang, Run: lim})
	if err != nil {
		return fmt.Errorf("backend: bwrap cannot make a sandbox on this host: %w", err)
	}
	if !out.Run.Success() {
		return fmt.Errorf("backend: bwrap cannot make a sandbox on this host: /bin/true: exit %d, signal %q, limit %q: %s",
			out.Run.ExitCode, out.Run.Signal, out.Run.Limit, out.Run.Stderr)
	}
	return nil
}

// bwrapView returns bwrap's arguments for the sandbox's view of the host,
// but for the work dir and /tmp. The file empty hides /etc's secrets.
func bwrapView(empty string) []string {
	v := []string{"--ro-bind", "/usr", "/usr"}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		st, err := os.Lstat(d)
		switch {
		case err != nil:
		case st.Mode()&fs.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				v = append(v, "--symlink", target, d)
			}
		case st.IsDir():
			v = append(v, "--ro-bind", d, d)
		}
	}
	v = append(v, "--ro-bind", "/etc", "/etc")
	for _, s := range bwrapEtcSecrets {
		p := filepath.Join("/etc", s)
		st, err := os.Lstat(p)
		switch {
		case err != nil:
		case st.IsDir():
			v = append(v, "--tmpfs", p, "--remount-ro", p)
		case st.Mode().IsRegular():
			v = append(v, "--ro-bind", empty, p)
		}
	}
	return append(v, "--proc", "/proc", "--dev", "/dev")
}

// Name returns "bwrap".
func (b *bwrapBackend) Name() string { return "bwrap" }

// Ready reports true: the backend keeps nothing warm.
func (b *bwrapBackend) Ready() bool { return true }

// Close kills the sandboxes of the jobs running, waits for their ends and
// removes the backend's host directory.
func (b *bwrapBackend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.running.Wait()
	return bwrapRemoveAll(b.base)
}

// Run runs the job's steps in a fresh work dir: the compile step (if the
// language has one) and, if it succeeded, the run step, which sees the
// files the compile step left.
func (b *bwrapBackend) Run(ctx context.Context, j *job.Job) (*job.Outcome, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errBwrapClosed
	}
	b.running.Add(1)
	b.mu.Unlock()
	defer b.running.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(b.ctx, cancel)
	defer stop()

	dir, err := b.workDir(j)
	if dir != "" {
		defer func() {
			if rerr := bwrapRemoveAll(dir); rerr != nil && err == nil {
				err = rerr
			}
		}()
	}
	if err != nil {
		return nil, err
	}
	out := &job.Outcome{}
	l := j.Language
	if l.Compile == nil {
		if out.Run, err = b.step(ctx, dir, lang.RunDir, lang.RunDir, l, l.Run, j.Stdin, j.Run); err != nil {
			return nil, fmt.Errorf("backend: bwrap: run: %w", err)
		}
		return out, nil
	}
	// The compile step sees the work dir, the run step only what the
	// compile step wrote to lang.OutDir: nothing else it left (processes,
	// /tmp) outlives its sandbox.
	if out.Compile, err = b.step(ctx, dir, lang.RunDir, lang.SrcDir, l, l.Compile, nil, j.Compile); err != nil {
		return nil, fmt.Errorf("backend: bwrap: compile: %w", err)
	}
	if !out.Compile.Success() {
		return out, nil
	}
	if out.Run, err = b.step(ctx, filepath.Join(dir, bwrapRel(lang.OutDir)), lang.OutDir, lang.OutDir, l, l.Run, j.Stdin, j.Run); err != nil {
		return nil, fmt.Errorf("backend: bwrap: run: %w", err)
	}
	return out, nil
}

// bwrapRel is the path inside the sandbox p, relative to lang.RunDir.
func bwrapRel(p string) string {
	rel, err := filepath.Rel(lang.RunDir, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		panic("backend: bwrap: " + p + " is not in " + lang.RunDir)
	}
	return rel
}

// workDir makes a job's work dir, bound at lang.RunDir, and writes its
// files, owned by the uid bwrap runs as: where Corral's backend puts them,
// in lang.SrcDir for a compiled language (with an empty lang.OutDir), in
// lang.RunDir for others. It returns the dir even with an error, for removal.
func (b *bwrapBackend) workDir(j *job.Job) (string, error) {
	dir, err := os.MkdirTemp(b.base, "job-")
	if err != nil {
		return "", fmt.Errorf("backend: bwrap: work dir: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return dir, fmt.Errorf("backend: bwrap: work dir: %w", err)
	}
	defer root.Close()
	chown := func(name string) error {
		if b.cred == nil {
			return nil
		}
		return root.Lchown(name, int(b.cred.Uid), int(b.cred.Gid))
	}
	if err := chown("."); err != nil {
		return dir, fmt.Errorf("backend: bwrap: work dir: %w", err)
	}
	prefix := ""
	if j.Language.Compile != nil {
		prefix = bwrapRel(lang.SrcDir) + "/"
		for _, d := range []string{bwrapRel(lang.SrcDir), bwrapRel(lang.OutDir)} {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return dir, fmt.Errorf("backend: bwrap: work dir: %w", err)
			}
			if err := chown(d); err != nil {
				return dir, fmt.Errorf("backend: bwrap: work dir: %w", err)
			}
		}
	}
	for name, data := range j.Files {
		name = prefix + name
		// Parents first, each owned by the sandbox's uid.
		parts := strings.Split(filepath.ToSlash(name), "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if err := root.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return dir, fmt.Errorf("backend: bwrap: file %q: %w", name, err)
			}
			if err := chown(d); err != nil {
				return dir, fmt.Errorf("backend: bwrap: file %q: %w", name, err)
			}
		}
		if err := root.WriteFile(name, data, 0o644); err != nil {
			return dir, fmt.Errorf("backend: bwrap: file %q: %w", name, err)
		}
		if err := chown(name); err != nil {
			return dir, fmt.Errorf("backend: bwrap: file %q: %w", name, err)
		}
	}
	return dir, nil
}

// bwrapRemoveAll removes dir, first making every directory in it writable:
// a program may leave a directory it made unwritable (chmod 0), which would
// stop a server that is not root from removing what it holds.
func bwrapRemoveAll(dir string) error {
	if os.RemoveAll(dir) == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("backend: bwrap: removing the work dir: %w", err)
	}
	return nil
}
