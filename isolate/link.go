package isolate

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Link is a network interface the init creates in the sandbox's network
// namespace: a TAP device (Ethernet frames, no packet information) whose
// other end, the device's fd, is the host's.
type Link struct {
	Name    string           // "eth0"
	MTU     int              // the largest IP packet a frame carries
	MAC     net.HardwareAddr // Ethernet, 6 bytes
	Addr    netip.Prefix     // IPv4 address and subnet
	Gateway netip.Addr       // the default route's, in Addr's subnet
}

// TunPath is the device that creates TAP interfaces.
const TunPath = "/dev/net/tun"

// CreateLink creates l in the current network namespace and returns the
// TAP's fd (close-on-exec, blocking): the interface is up with l's
// hardware address, MTU and address, the default route goes through
// l.Gateway, and IPv6 is off in the namespace (its own sysctls). It opens
// TunPath, so the host's /dev must still be in view (before PivotRoot);
// the namespace's sysctls are written through the /proc in view, which
// shows the caller's network namespace's. The interface lives as long as
// the fd: closing its last copy removes it.
func CreateLink(l Link) (int, error) {
	if !l.Addr.Addr().Is4() || !l.Gateway.Is4() || len(l.MAC) != 6 || l.MTU < 68 {
		return -1, stepErr("link", l.Name, fmt.Errorf("invalid link %+v", l))
	}
	tun, err := unix.Open(TunPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, stepErr("link", TunPath, err)
	}
	if err := configureLink(tun, l); err != nil {
		unix.Close(tun)
		return -1, err
	}
	return tun, nil
}

// configureLink makes tun the TAP l.Name and configures it.
func configureLink(tun int, l Link) error {
	ifr, err := unix.NewIfreq(l.Name)
	if err != nil {
		return stepErr("link", l.Name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(tun, unix.TUNSETIFF, ifr); err != nil {
		return stepErr("link", l.Name, err)
	}
	if err := disableIPv6(l.Name); err != nil {
		return err
	}
	sock, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return stepErr("link", l.Name, err)
	}
	defer unix.Close(sock)
	if err := setHardwareAddr(sock, l.Name, l.MAC); err != nil {
		return stepErr("link", l.Name, fmt.Errorf("hardware address %s: %w", l.MAC, err))
	}
	set := func(what string, req uint, fill func(*unix.Ifreq) error) error {
		ifr, err := unix.NewIfreq(l.Name)
		if err == nil {
			err = fill(ifr)
		}
		if err == nil {
			err = unix.IoctlIfreq(sock, req, ifr)
		}
		if err != nil {
			return stepErr("link", l.Name, fmt.Errorf("%s: %w", what, err))
		}
		return nil
	}
	mask := net.CIDRMask(l.Addr.Bits(), 32)
	if err := set("MTU", unix.SIOCSIFMTU, func(r *unix.Ifreq) error { r.SetUint32(uint32(l.MTU)); return nil }); err != nil {
		return err
	}
	if err := set("address", unix.SIOCSIFADDR, func(r *unix.Ifreq) error { return r.SetInet4Addr(l.Addr.Addr().AsSlice()) }); err != nil {
		return err
	}
	if err := set("netmask", unix.SIOCSIFNETMASK, func(r *unix.Ifreq) error { return r.SetInet4Addr(mask) }); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(sock, unix.SIOCGIFFLAGS, ifr); err != nil {
		return stepErr("link", l.Name, err)
	}
	if err := set("up", unix.SIOCSIFFLAGS, func(r *unix.Ifreq) error { r.SetUint16(ifr.Uint16() | unix.IFF_UP); return nil }); err != nil {
		return err
	}
	if err := addDefaultRoute(sock, l.Name, l.Gateway); err != nil {
		return stepErr("link", l.Name, fmt.Errorf("default route via %s: %w", l.Gateway, err))
	}
	return nil
}

// disableIPv6 turns IPv6 off on the interface name, and on any made
// later (default): the host's end serves IPv4 alone. Not on every
// interface (all): the loopback keeps ::1, as a NetworkNone sandbox's
// does, for servers that listen there and for "localhost" resolving to it.
// A kernel without IPv6 has none of these files, and nothing to turn off.
func disableIPv6(name string) error {
	for _, c := range []string{"default", name} {
		p := "/proc/sys/net/ipv6/conf/" + c + "/disable_ipv6"
		err := os.WriteFile(p, []byte("1\n"), 0)
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat("/proc/sys/net/ipv6"); errors.Is(serr, os.ErrNotExist) {
				return nil
			}
		}
		if err != nil {
			return stepErr("link", p, unwrapPath(err))
		}
	}
	return nil
}

// unwrapPath returns the errno of a *PathError, else err.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
