package protocol

import (
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// pair returns a connected fd socket: the host's end and the init's fd.
func pair(t *testing.T) (*os.File, int) {
	t.Helper()
	host, child, err := FilesSocketpair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close(); child.Close() })
	return host, int(child.Fd())
}

// openFiles returns n files to send, closed at the end of the test.
func openFiles(t *testing.T, n int) []*os.File {
	var fs []*os.File
	for range n {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fs = append(fs, f)
	}
	return fs
}

func TestExecRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 3*chunk+17) // several messages
	for _, tc := range []struct {
		name string
		e    Exec
	}{
		{"plain", Exec{Command: Command{Path: "/bin/true", Args: []string{"true"}}}},
		{"cgroup", Exec{
			Command: Command{Path: "sh", Args: []string{"sh", "-c", "echo \"hi\" \x01\u00e9"},
				Env: []string{"PATH=/bin", "A=b=c"}, Dir: "/work", ExtraFiles: 2},
			Cgroup: CgroupFiles{Enter: []int{5, 6}, Leave: []int{7, 8}},
		}},
		{"v2", Exec{Command: Command{Path: "x"}, Cgroup: CgroupFiles{Dir: 3}}},
		{"copies", Exec{Command: Command{Path: "x"}, Cgroup: CgroupFiles{Dir: 3}, Files: CopyFiles{CopyIn: 4, CopyOut: []string{"out", "a/b"}, CopyOutFile: 5}}},
		{"long", Exec{Command: Command{Path: "/bin/echo", Args: []string{"echo", long}, Env: []string{"L=" + long}}}},
		{"most-files", Exec{Command: Command{Path: "x", ExtraFiles: MaxFiles - 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host, fd := pair(t)
			files := openFiles(t, tc.e.FileCount())
			errc := make(chan error, 1)
			go func() { errc <- SendExec(host, &tc.e, files) }()
			got, fds, err := RecvExec(fd)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			for _, f := range fds {
				if flags, err := unix.FcntlInt(uintptr(f), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
					t.Errorf("received fd %d: flags %#x, %v; want close-on-exec", f, flags, err)
				}
				unix.Close(f)
			}
			if len(fds) != tc.e.FileCount() {
				t.Errorf("%d files, want %d", len(fds), tc.e.FileCount())
			}
			if !reflect.DeepEqual(*got, tc.e) {
				t.Errorf("got %+v, want %+v", *got, tc.e)
			}
		})
	}
}

func TestSendExecChecksFiles(t *testing.T) {
	host, _ := pair(t)
	e := &Exec{Command: Command{Path: "x", ExtraFiles: 1}}
	if err := SendExec(host, e, openFiles(t, 3)); err == nil {
		t.Error("3 files for a command that needs 4: no error")
	}
	e.Command.ExtraFiles = MaxFiles
	if err := SendExec(host, e, openFiles(t, MaxFiles+3)); err == nil {
		t.Errorf("%d files: no error", MaxFiles+3)
	}
}

// TestRecvExecRejects: a message that is not a whole Exec with its files
// is an error, and leaves no received fd open.
func TestRecvExecRejects(t *testing.T) {
	before := countFDs(t)
	for _, tc := range []struct {
		name string
		send func(fd int)
	}{
		{"short", func(fd int) { unix.Sendmsg(fd, []byte{1}, nil, nil, 0) }},
		{"malformed", func(fd int) { unix.Sendmsg(fd, []byte{3, 0, 0, 0, 0xff, 0xff, 0xff}, nil, nil, 0) }},
		{"wrong-file-count", func(fd int) {
			null, _ := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			defer unix.Close(null)
			js := execWire(&Exec{Command: Command{Path: "x"}})
			unix.Sendmsg(fd, append([]byte{byte(len(js)), 0, 0, 0}, js...), unix.UnixRights(null, null), nil, 0)
		}},
		{"cut-short", func(fd int) {
			unix.Sendmsg(fd, []byte{100, 0, 0, 0, '{'}, nil, nil, 0)
			unix.Sendmsg(fd, nil, nil, nil, 0)
		}},
		{"longer-than-announced", func(fd int) {
			js := execWire(&Exec{Command: Command{Path: "x"}})
			unix.Sendmsg(fd, append([]byte{3, 0, 0, 0}, js...), nil, nil, 0)
		}},
		{"files-on-a-later-message", func(fd int) {
			null, _ := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			defer unix.Close(null)
			js := execWire(&Exec{Command: Command{Path: "x"}})
			unix.Sendmsg(fd, append([]byte{byte(len(js)), 0, 0, 0}, js[:5]...), nil, nil, 0)
			unix.Sendmsg(fd, []byte(js[5:]), unix.UnixRights(null, null, null), nil, 0)
		}},
		{"message-over-chunk", func(fd int) {
			unix.Sendmsg(fd, make([]byte, chunk+100), nil, nil, 0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host, fd := pair(t)
			tc.send(int(host.Fd()))
			if e, fds, err := RecvExec(fd); err == nil || e != nil || fds != nil {
				t.Errorf("RecvExec = %+v, %v, %v; want an error", e, fds, err)
			}
		})
	}
	if after := countFDs(t); after != before {
		t.Errorf("fds: %d before, %d after", before, after)
	}
}

func TestRecvExecEOF(t *testing.T) {
	host, fd := pair(t)
	host.Close()
	if _, _, err := RecvExec(fd); err != io.EOF {
		t.Errorf("RecvExec after the host closed = %v; want io.EOF", err)
	}
	// Closed in the middle of a command: an error, not a clean EOF.
	host, fd = pair(t)
	unix.Sendmsg(int(host.Fd()), []byte{100, 0, 0, 0, '{'}, nil, nil, 0)
	host.Close()
	if _, _, err := RecvExec(fd); err == nil || err == io.EOF {
		t.Errorf("RecvExec after the host closed mid-command = %v; want an error other than io.EOF", err)
	}
}

// execWire is e's wire form, as SendExec sends it after its length.
func execWire(e *Exec) []byte {
	var w writer
	w.exec(e)
	return w.b
}

func countFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// FuzzExecWire: any bytes decode to an Exec or an error, never a panic,
// and what decodes encodes back to the same Exec.
func FuzzExecWire(f *testing.F) {
	f.Add(execWire(&Exec{Run: 1, Command: Command{Path: "/bin/sh", Args: []string{"sh", "-c", "x"}, Env: []string{"A=b"}}}))
	f.Add(execWire(&Exec{Terminal: &Winsize{Rows: 24, Cols: 80}, Files: CopyFiles{CopyOut: []string{"out"}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &reader{b: data}
		e := r.exec()
		if r.end() != nil {
			return
		}
		r = &reader{b: execWire(e)}
		again := r.exec()
		if err := r.end(); err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("re-encoding %+v: got %+v, %v", e, again, err)
		}
	})
}

func TestHostFilesRoundTrip(t *testing.T) {
	host, init := pair(t)
	files := openFiles(t, 2)
	if err := SendHostFiles(init, []int{int(files[0].Fd()), int(files[1].Fd())}); err != nil {
		t.Fatal(err)
	}
	got, err := RecvHostFiles(host, "tap", "listener")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range got {
		var a, b unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &a); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fstat(int(files[i].Fd()), &b); err != nil {
			t.Fatal(err)
		}
		if a.Ino != b.Ino || a.Dev != b.Dev {
			t.Errorf("file %d: inode %d, want %d", i, a.Ino, b.Ino)
		}
		if f.Name() != []string{"tap", "listener"}[i] {
			t.Errorf("file %d named %q", i, f.Name())
		}
		f.Close()
	}
	// Control: a count other than the sender's is refused, and leaks nothing.
	if err := SendHostFiles(init, []int{int(files[0].Fd())}); err != nil {
		t.Fatal(err)
	}
	before := countFDs(t)
	if _, err := RecvHostFiles(host, "tap", "listener"); err == nil {
		t.Fatal("one file received as two")
	}
	if after := countFDs(t); after != before {
		t.Errorf("fds %d after a refused message, %d before", after, before)
	}
}
