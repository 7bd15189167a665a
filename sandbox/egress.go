package sandbox

// The host's end of a NetworkEgress sandbox's network (host side).

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Egress serves the network of NetworkEgress sandboxes (Options.Egress):
// package sandbox/egress's Policy is one, a user-mode TCP/IP stack in this
// process that allows connections by host name. A sandbox attaches when
// its init has built it, and detaches when it ends.
type Egress interface {
	// Attach serves link, one sandbox's, until the Attachment is closed.
	// It owns link.File from then on, even when it fails.
	Attach(link *Link) (Attachment, error)
}

// Link is a NetworkEgress sandbox's interface, seen from the host: the
// other end of its eth0.
type Link struct {
	// File is a TAP device: Ethernet frames, without packet information,
	// one per read and write; non-blocking.
	File *os.File
	// MTU is eth0's: the largest IP packet a frame carries.
	MTU int
	// MAC is eth0's hardware address.
	MAC net.HardwareAddr
	// Addr is eth0's address and subnet (10.0.2.100/24).
	Addr netip.Prefix
	// Gateway is eth0's default route (10.0.2.2): the host's end.
	Gateway netip.Addr
	// DNS is the sandbox's name server, its /etc/resolv.conf's (10.0.2.3):
	// the host's end answers there.
	DNS netip.Addr
	// ID names the sandbox in what the Egress reports; unique among this
	// process's sandboxes.
	ID string
}

// Attachment is one sandbox's network, served by an Egress.
type Attachment interface {
	// DialContext connects to port on the sandbox's address, from the
	// host's end of the link: a server the sandbox runs.
	DialContext(ctx context.Context, port int) (net.Conn, error)
	// Close stops serving the link: the connections through it end, and
	// link.File is closed.
	Close() error
}

// Denial is a system call the filter refused (Options.Denials).
type Denial struct {
	Time time.Time
	// Pid is the calling process's pid inside the sandbox, or 0 when it
	// could not be learnt (it was killed meanwhile).
	Pid int
	// Syscall is the call's name ("mount"), or "syscall_N" when the
	// filter's architecture does not name it.
	Syscall string
	// Nr is the call's number, for Arch.
	Nr int
	// Arch is the calling ABI: "x86_64", "x86" (i386), "x32", "aarch64", ...
	Arch string
	// Args are the call's six raw arguments (pointers into the caller's
	// memory are not followed).
	Args [6]uint64
	// Errno is what the call returned: the profile's answer.
	Errno syscall.Errno
}

// validateEgress checks Options.Egress against Options.Network.
func (o *Options) validateEgress() error {
	switch {
	case o.Network == NetworkEgress && o.Egress == nil:
		return &OptionError{"Options.Egress", nil, "is required with NetworkEgress: set it to an egress.Policy (package sandbox/egress)"}
	case o.Network != NetworkEgress && o.Egress != nil:
		return &OptionError{"Options.Egress", o.Egress, "is used only with Network: NetworkEgress; set both, or neither"}
	case o.Network == NetworkEgress && o.Reuse:
		return &OptionError{"Options.Reuse", true, "does not work with NetworkEgress yet: a reused sandbox's runs would share one network's state; use a pool without Reuse"}
	}
	return nil
}
