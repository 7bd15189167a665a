package sandbox

// The wiring of a NetworkEgress sandbox's network on the host: the link's
// fixed values, the TAP the init hands over before its first Ready, the
// Attachment that serves it, and its end with the sandbox.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// The link of every NetworkEgress sandbox: its eth0 (the init makes it
// from Spec.Link) and the host's end (Link, for Options.Egress). Every
// sandbox has the same addresses, each in its own network namespace.
var (
	egressLink = isolate.Link{
		Name: "eth0",
		// So that bulk TCP moves ~64 KiB frames: a frame costs the host's
		// stack the same whatever its size.
		MTU:     65520,
		MAC:     net.HardwareAddr{0x02, 0, 0, 0, 0, 0x64},
		Addr:    netip.MustParsePrefix("10.0.2.100/24"),
		Gateway: netip.MustParseAddr("10.0.2.2"),
	}
	// egressDNS is the sandbox's name server (its /etc/resolv.conf): the
	// host's end answers there.
	egressDNS = netip.MustParseAddr("10.0.2.3")
	// egressResolvConf is the sandbox's /etc/resolv.conf.
	egressResolvConf = "nameserver " + egressDNS.String() + "\noptions edns0 trust-ad\n"
)

// linkIDs numbers the links of this process's sandboxes (Link.ID).
var linkIDs atomic.Int64

// The names of the files the init sends before its first Ready: the TAP,
// and the filter's listener.
const (
	tapName      = "corral-tap"
	listenerName = "corral-seccomp-listener"
)

// hostFileNames are the files the init sends before its first Ready
// (protocol.SendHostFiles), in the order it sends them: the TAP of
// Spec.Link, then the listener of Spec.Notify.
func (s *Sandbox) hostFileNames() []string {
	var names []string
	if s.spec.Link != nil {
		names = append(names, tapName)
	}
	if s.spec.Notify {
		names = append(names, listenerName)
	}
	return names
}

// attachEgress attaches tap, the sandbox's eth0, to Options.Egress. An
// error fails the sandbox's set-up (takeHostFiles's caller).
func (b *booted) attachEgress(tap *os.File) error {
	link := &Link{File: tap, MTU: egressLink.MTU, MAC: append(net.HardwareAddr(nil), egressLink.MAC...),
		Addr: egressLink.Addr, Gateway: egressLink.Gateway, DNS: egressDNS,
		ID: "sb-" + strconv.FormatInt(linkIDs.Add(1), 10)}
	att, err := b.sb.opts.Egress.Attach(link) // it owns tap now
	if err != nil {
		return fmt.Errorf("sandbox: Options.Egress: attaching sandbox %s: %w", link.ID, err)
	}
	if !b.net.set(att) {
		return errors.New("sandbox: the sandbox ended while its network was attached")
	}
	return nil
}

// egressNet is a booted sandbox's NetworkEgress network, host side: the
// Attachment that serves its link, and the listeners that forward to it
// (Forward). It ends once, with the sandbox (close).
type egressNet struct {
	mu       sync.Mutex
	att      Attachment
	closed   bool
	forwards map[*forwarder]struct{}
}

// set makes att the network's, and reports true; or closes att and
// reports false when the network has ended already.
func (n *egressNet) set(att Attachment) bool {
	n.mu.Lock()
	if !n.closed {
		n.att = att
		n.mu.Unlock()
		return true
	}
	n.mu.Unlock()
	att.Close()
	return false
}

// attachment returns the Attachment, nil once the network has ended (or
// before it is attached).
func (n *egressNet) attachment() Attachment {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.att
}

// addForward registers f, to be closed with the network; false when it
// has ended.
func (n *egressNet) addForward(f *forwarder) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	if n.forwards == nil {
		n.forwards = map[*forwarder]struct{}{}
	}
	n.forwards[f] = struct{}{}
	return true
}

// removeForward forgets f (it was closed).
func (n *egressNet) removeForward(f *forwarder) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.forwards, f)
}

// close ends the network, once: the forwarding listeners, then the
// Attachment (which closes the TAP).
func (n *egressNet) close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	att, fs := n.att, n.forwards
	n.att, n.forwards = nil, nil
	n.mu.Unlock()
	for f := range fs {
		f.Close()
	}
	if att != nil {
		att.Close()
	}
}

// linkHint says what the host lacks when the init failed to make the
// link (SetupError Step "link").
func linkHint(path string, errno syscall.Errno) string {
	switch {
	case path == isolate.TunPath && errno == unix.ENOENT:
		return "this host has no /dev/net/tun, which NetworkEgress needs (load the tun module: modprobe tun)"
	case path == isolate.TunPath && (errno == unix.EACCES || errno == unix.EPERM):
		return "/dev/net/tun is not readable and writable by this user, which NetworkEgress needs (its usual mode is 0666: chmod 0666 /dev/net/tun)"
	case path == isolate.TunPath && errno == unix.ENODEV:
		return "the kernel has no TUN/TAP driver, which NetworkEgress needs (CONFIG_TUN; modprobe tun)"
	case errno == unix.EPERM:
		return "the sandbox's network namespace refused to make its TAP interface (CAP_NET_ADMIN in it; a seccomp or LSM policy of the host may refuse TUNSETIFF)"
	}
	return ""
}

// checkTun reports whether /dev/net/tun can be opened for NetworkEgress.
// Opening it creates nothing.
func checkTun() Feature {
	f := Feature{Name: "tun", Detail: isolate.TunPath + " opens read-write",
		Fix: "NetworkEgress needs " + isolate.TunPath + " readable and writable by this user: modprobe tun; chmod 0666 " + isolate.TunPath}
	fd, err := unix.Open(isolate.TunPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		f.Detail = isolate.TunPath + ": " + err.Error()
		return f
	}
	unix.Close(fd)
	f.Available = true
	return f
}
