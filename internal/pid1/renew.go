package pid1

// The namespaces a reused sandbox renews between runs (init side).

import (
	"bytes"
	"os"
	"runtime"
	"strconv"

	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// renewNamespaces gives the launcher thread of a reused sandbox
// (Spec.Reuse), and so the next command, namespaces of its own: a new IPC
// namespace, and with net a new network namespace with its loopback up
// (NetworkNone only), so that a run sees none of the last one's sockets,
// TIME_WAIT entries, counters or /proc/net tables, and can bind the ports
// it left. Not the init's own: its other threads would keep what the first
// run left there alive for as long as the sandbox lives. When the run ends
// and the launcher moves on, nothing holds the old ones, and the kernel
// frees them. The launcher keeps CAP_SYS_ADMIN in the sandbox's user
// namespace until each command's execve (see dropCapabilities);
// validation keeps the caller's filter rules from refusing it unshare.
// Before the first run, net is false: the init's network namespace is new.
//
// A network namespace costs ~0.25 ms of CPU to make and more to free
// (measured: 16-30% of the throughput of reused sandboxes running
// /bin/true), so it is renewed only after a run that left sockets in it:
// TIME_WAIT and orphaned TCP sockets, or any other still open (what shows
// in /proc/net/tcp, udp, ...), as /proc/net/sockstat counts them. Reading
// it costs ~0.03 ms; the SNMP counters too would cost as much as a new
// namespace. A run that left no socket thus leaves the next the traffic
// counters (/proc/net/snmp, netstat) it moved, and the TCP metrics of
// connections it reset (which leave no TIME_WAIT), not its tuples.
func (s *state) renewNamespaces(net bool) error {
	if !s.spec.Reuse {
		return nil
	}
	watch := s.spec.Loopback && s.spec.Link == nil // a Link (never with Reuse) lives in the init's namespace
	flags := unix.CLONE_NEWIPC
	if net && watch {
		if now := netState(); now == nil || !bytes.Equal(now, s.netBase) {
			flags |= unix.CLONE_NEWNET
		}
	}
	if err := unix.Unshare(flags); err != nil {
		return &isolate.Error{Step: "unshare", Err: err}
	}
	if flags&unix.CLONE_NEWNET != 0 {
		// The loopback is brought up from another, unconfined, thread: the
		// caller's filter may refuse the launcher the socket or the ioctl.
		done := make(chan error)
		go func() { done <- loopbackUpIn(s.launcher.tid) }()
		if err := <-done; err != nil {
			return err
		}
	}
	if watch && (flags&unix.CLONE_NEWNET != 0 || s.netBase == nil) {
		s.netBase = netState()
	}
	return nil
}

// loopbackUpIn brings up the loopback of the network namespace of the
// init's thread tid, from the calling goroutine's thread, which it locks
// and returns to the init's own network namespace afterwards (or leaves
// locked, to end with the goroutine, if it cannot).
func loopbackUpIn(tid int) error {
	runtime.LockOSThread()
	own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return &isolate.Error{Step: "loopback", Path: "/proc/thread-self/ns/net", Err: err}
	}
	defer unix.Close(own)
	path := "/proc/self/task/" + strconv.Itoa(tid) + "/ns/net"
	ns, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return &isolate.Error{Step: "loopback", Path: path, Err: err}
	}
	defer unix.Close(ns)
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return &isolate.Error{Step: "loopback", Path: path, Err: err}
	}
	err = isolate.LoopbackUp()
	if unix.Setns(own, unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	return err
}

// netState is what /proc/net/sockstat and sockstat6 count in the calling
// thread's network namespace: sockets in use, TIME_WAIT ones included; or
// nil if it cannot be read. Only the namespace's own counts ("used",
// "inuse", "tw"): the others there (orphan, alloc, mem, memory) are the
// whole host's, and would change with any socket anywhere.
func netState() []byte {
	var out []byte
	for _, f := range []string{"/proc/thread-self/net/sockstat", "/proc/thread-self/net/sockstat6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil // the namespace is renewed every time
		}
		out = append(out, ownCounts(b)...)
	}
	return out
}

// ownCounts keeps, of sockstat lines ("TCP: inuse 1 orphan 0 tw 0 ..."),
// each protocol's name and its used, inuse and tw figures.
func ownCounts(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		out = append(out, f[0]...)
		for i := 1; i+1 < len(f); i += 2 {
			switch string(f[i]) {
			case "used", "inuse", "tw":
				out = append(append(append(out, ' '), f[i]...), ' ')
				out = append(out, f[i+1]...)
			}
		}
		out = append(out, '\n')
	}
	return out
}
