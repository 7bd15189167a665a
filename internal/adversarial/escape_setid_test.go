package adversarial

// Escape cases: set-uid and set-gid programs left on the host through the
// files a sandbox is given (its stdout, an extra file, a writable bind),
// and a command changing the init's resource limits.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
	"golang.org/x/sys/unix"
)

// escPayload stands for a program the command writes into a host file.
var escPayload = []byte("\x7fELF\x02\x01\x01 a program of the command's")

var escSetIDCases = []escapeCase{
	// Issue 11, 1: the command writes a program into a host file it was
	// handed and makes it set-uid (and set-gid): as root, a set-uid-root
	// program on the host. Each target: fd:N (fchmod, and chmod of
	// /proc/self/fd/N) or path:P (chmod, and the creating calls beside
	// it). The verdict has each call's errno; the test checks the host's
	// files afterwards.
	{name: "setid-host-files", victim: func(args []string) int {
		var r []string
		for _, a := range args {
			if n, ok := strings.CutPrefix(a, "fd:"); ok {
				fd, _ := strconv.Atoi(n)
				_, err := unix.Write(fd, escPayload)
				r = append(r, "write="+escErr(err),
					escErr(unix.Fchmod(fd, 0o6755)),
					escErr(unix.Chmod("/proc/self/fd/"+n, 0o4755)),
					escErrno(testutil.Syscall(unix.SYS_FCHMODAT, unix.AT_FDCWD, "/proc/self/fd/"+n, 0o2755)))
				continue
			}
			dir := strings.TrimPrefix(a, "path:")
			err := os.WriteFile(dir+"/prog", escPayload, 0o755)
			r = append(r, "write="+escErr(err), escErr(unix.Chmod(dir+"/prog", 0o6755)))
			fd, err := unix.Open(dir+"/created", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o4755)
			if err == nil {
				unix.Close(fd)
			}
			r = append(r, escErr(err),
				escErr(unix.Mknodat(unix.AT_FDCWD, dir+"/node", unix.S_IFREG|0o2755, 0)),
				escErr(unix.Mkdir(dir+"/dir", 0o2755)))
		}
		// The verdict goes to stderr too: stdout may be a target.
		os.Stderr.WriteString("RESULT " + strings.Join(r, ",") + "\n")
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		// An extra file and a writable bind; then stdout. Control: the
		// same extra file without the filter becomes set-id (the last
		// call leaves it set-gid), so the check of the host's modes can
		// see it.
		dir := t.TempDir()
		extra := escHostFile(t, dir, "extra")
		bound := filepath.Join(dir, "bound")
		if err := os.Mkdir(bound, 0o755); err != nil {
			t.Fatal(err)
		}
		opts := sandbox.Options{Mounts: []sandbox.Mount{sandbox.BindWritable(bound, "/mnt/w")}}
		o := escAttack(t, name, escRun{opts: opts, args: []string{"fd:3", "path:/mnt/w"}, extra: []*os.File{extra}})
		escWant(t, o, "write=ok,EPERM,EPERM,EPERM,write=ok,EPERM,EPERM,EPERM,EPERM")
		stdout := escHostFile(t, dir, "stdout")
		verdict := escSetIDStdout(t, name, stdout)
		if want := "write=ok,EPERM,EPERM,EPERM"; verdict != want {
			t.Errorf("stdout a host file: verdict %q, want %q", verdict, want)
		}
		for _, p := range []string{extra.Name(), stdout.Name(), bound + "/prog", bound + "/created", bound + "/node", bound + "/dir"} {
			if st, err := os.Stat(p); err == nil && st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
				t.Errorf("the host's %s is %v after the run", p, st.Mode())
			}
		}
		control := escHostFile(t, dir, "control")
		off := sandbox.Options{Seccomp: seccomp.Profile{Disabled: true}}
		o = escAttack(t, name, escRun{opts: off, args: []string{"fd:3"}, extra: []*os.File{control}})
		st, err := os.Stat(control.Name())
		if err != nil || st.Mode()&(os.ModeSetuid|os.ModeSetgid) == 0 {
			t.Errorf("control, filter off: the host file is %v (%v), want set-id; %v", st.Mode(), err, o)
		}
		t.Logf("control, filter off: verdict %q, the host file %v", o.verdict, st.Mode())
	}},
	// Issue 11, 2: a command lowering the init's limits (pid 1, or one of
	// its threads by tid), which the next command of a reused sandbox
	// inherited. Its own limits (pid 0) it may set, anyone's it may read.
	{name: "prlimit-init", victim: func([]string) int {
		low := unix.Rlimit{Cur: 100, Max: 100}
		var old unix.Rlimit
		r := []string{
			escErr(unix.Prlimit(1, unix.RLIMIT_FSIZE, &low, nil)),
			escErr(unix.Prlimit(1, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 8, Max: 8}, nil)),
		}
		// The init's threads are hidden (hidepid), but their ids are small
		// in a new pid namespace: every other task that exists there (its
		// limits can be read) is refused a new limit.
		for tid := 2; tid <= 32; tid++ {
			if tid != os.Getpid() && unix.Prlimit(tid, unix.RLIMIT_FSIZE, nil, &old) == nil {
				r = append(r, "tid:"+escErr(unix.Prlimit(tid, unix.RLIMIT_FSIZE, &low, nil)))
			}
		}
		r = append(r, "read:"+escErr(unix.Prlimit(1, unix.RLIMIT_FSIZE, nil, &old)),
			"self:"+escErr(unix.Prlimit(0, unix.RLIMIT_FSIZE, &low, nil)))
		return escReport(r...)
	}, test: func(t *testing.T, name string) {
		o := escAttack(t, name, escRun{})
		f := strings.Split(o.verdict, ",")
		if len(f) < 4 || f[0] != "EPERM" || f[1] != "EPERM" || f[len(f)-2] != "read:ok" || f[len(f)-1] != "self:ok" || !o.res.Success() {
			t.Errorf("verdict %q, want EPERM,EPERM,[tid:EPERM,...,]read:ok,self:ok; %v", o.verdict, o)
		}
		for _, p := range f[2 : len(f)-2] {
			if p != "tid:EPERM" {
				t.Errorf("an init thread's limit: %s, want tid:EPERM", p)
			}
		}
	}},
}

// escHostFile creates a host file (0644) in dir for a sandbox to get,
// closed when the test ends.
func escHostFile(t *testing.T, dir, name string) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// escSetIDStdout runs the setid-host-files victim on its stdout, the host
// file f, and returns its verdict (from stderr).
func escSetIDStdout(t *testing.T, name string, f *os.File) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := sandbox.Command("/probe", "fd:1")
	c.Env = []string{"CORRAL_ATTACK=" + escAttackName(name)}
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = f, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := sandbox.New(sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(exe, "/probe")}}).RunContext(ctx, c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	res, err := p.Wait()
	if err != nil || !res.Success() {
		t.Fatalf("stdout a host file: %v %v, stderr %q", res, err, stderr.String())
	}
	v, _ := strings.CutPrefix(strings.TrimSpace(stderr.String()), "RESULT ")
	return v
}
