package compat

// Real programs run with no flags: the defaults (environment, tmpfs sizes,
// /sys) must let a compiler, version control and system tools work.

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/sandboxtest"
)

// helloHTTP is a small net/http program: a server on loopback and a client.
const helloHTTP = `package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from net/http")
	}))
	resp, err := http.Get("http://" + l.Addr().String())
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(string(b))
}
`

// TestGoBuild: a cold-cache go build of a net/http program, with no flags
// and no environment given. It needs HOME (for GOCACHE) and room in /work
// (the cache, ~90 MB) and /tmp (the build's work directory, ~85 MB).
func TestGoBuild(t *testing.T) {
	goBin := testutil.RequireProgram(t, "go")
	if !strings.HasPrefix(goBin, "/usr/") {
		t.Skipf("go is %s, outside /usr: the default sandbox does not show it", goBin)
	}
	script := fmt.Sprintf(`set -e
mkdir hello && cd hello
cat > go.mod <<'EOF'
module hello

go 1.22
EOF
cat > main.go <<'EOF'
%sEOF
%s env GOCACHE
%s build
./hello`, helloHTTP, goBin, goBin)
	o := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", script))
	if o.exit != 0 || o.stdout != "/work/.cache/go-build\nhello from net/http\n" {
		t.Fatalf("go build: exit %d, stdout %q, stderr %q; want the cache in /work and the program's greeting", o.exit, o.stdout, o.stderr)
	}
}

// TestGitConfigGlobal: git's global settings go to $HOME/.gitconfig.
func TestGitConfigGlobal(t *testing.T) {
	testutil.RequireProgram(t, "git")
	out := sandboxtest.Output(t, sandbox.Options{}, "/bin/sh", "-c", "git config --global user.name x && git config --global user.name && cat $HOME/.gitconfig")
	if !strings.HasPrefix(out, "x\n[user]\n") {
		t.Fatalf("git config --global: stdout %q; want x and the file", out)
	}
}

// lscpuCPUs returns the "CPU(s):" line of lscpu's output.
func lscpuCPUs(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == "CPU(s)" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestLscpu: lscpu reads /sys/devices/system/cpu and finds the host's CPUs.
func TestLscpu(t *testing.T) {
	lscpu := testutil.RequireProgram(t, "lscpu")
	host, err := exec.Command(lscpu).Output()
	want := lscpuCPUs(string(host))
	if err != nil || want == "" {
		t.Fatalf("lscpu on the host: %v, %q", err, host)
	}
	if got := lscpuCPUs(sandboxtest.Output(t, sandbox.Options{}, lscpu)); got != want {
		t.Fatalf("lscpu: CPU(s) %q; the host's %q", got, want)
	}
}

// fillShm is what a data-loader worker does: a shared memory block, every
// page of it written through the mapping.
const fillShm = `import sys
from multiprocessing import shared_memory
n = int(sys.argv[1]) << 20
s = shared_memory.SharedMemory(name="corral-test", create=True, size=n)
s.buf[:] = b"\1" * n
print(s.size >> 20)
s.close()
s.unlink()
`

// TestTmpfsRoom: 128 MiB files in /tmp and /work (dd) and a 128 MiB shared
// memory block in /dev/shm (python3) fit under the defaults; past a
// mount's size a write fails with ENOSPC and the program goes on, while a
// store to a mapping past it gets SIGBUS, as on the host.
func TestTmpfsRoom(t *testing.T) {
	testutil.RequireProgram(t, "python3")
	const python = "python3" // inside: the one in /usr/bin, whatever the host's PATH finds first
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil || int64(si.Totalram)*int64(si.Unit)/4 < 160<<20 {
		t.Skipf("a quarter of this machine's memory is under 160 MiB (%v)", err)
	}
	dd := `dd if=/dev/zero of=$1/f bs=1M count=$2 2>&1; echo "status $?"; stat -c %s $1/f`
	for _, dir := range []string{"/tmp", "/work"} {
		o := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", dd, "sh", dir, "128"))
		if o.exit != 0 || !strings.Contains(o.stdout, "status 0\n") || !strings.HasSuffix(o.stdout, fmt.Sprintf("\n%d\n", 128<<20)) {
			t.Errorf("dd 128 MiB to %s: exit %d, stdout %q, stderr %q", dir, o.exit, o.stdout, o.stderr)
		}
	}
	o := run(t, sandbox.Options{}, sandbox.Command(python, "-c", fillShm, "128"))
	if o.exit != 0 || o.stdout != "128\n" {
		t.Errorf("python3 shared_memory of 128 MiB: exit %d, stdout %q, stderr %q", o.exit, o.stdout, o.stderr)
	}

	// Controls: past a 16 MiB mount, dd gets ENOSPC and exits 1 (no
	// signal); the mapping gets SIGBUS.
	small := sandbox.Options{Mounts: []sandbox.Mount{sandbox.Tmpfs("/tmp", 16<<20), sandbox.Tmpfs("/dev/shm", 16<<20)}}
	o = run(t, small, sandbox.Command("/bin/sh", "-c", dd, "sh", "/tmp", "32"))
	if o.exit != 0 || !strings.Contains(o.stdout, "No space left on device") || !strings.Contains(o.stdout, "status 1\n") || !strings.HasSuffix(o.stdout, fmt.Sprintf("\n%d\n", 16<<20)) {
		t.Errorf("control: dd 32 MiB to a 16 MiB /tmp: exit %d, stdout %q, stderr %q; want ENOSPC, status 1 and 16 MiB written", o.exit, o.stdout, o.stderr)
	}
	o = run(t, small, sandbox.Command(python, "-c", fillShm, "32"))
	if o.res.Signal != syscall.SIGBUS {
		t.Errorf("control: python3 shared_memory of 32 MiB in a 16 MiB /dev/shm: exit %d, stdout %q, stderr %q; want SIGBUS", o.exit, o.stdout, o.stderr)
	}
}
