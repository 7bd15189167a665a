package isolate

import (
	"net"
	"net/netip"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ifreqHW is struct ifreq with its sockaddr ifr_hwaddr, which
// unix.Ifreq cannot set.
type ifreqHW struct {
	name   [unix.IFNAMSIZ]byte
	family uint16
	data   [14]byte
	_      [8]byte // the rest of the union
}

// setHardwareAddr sets the Ethernet address of the interface name
// (SIOCSIFHWADDR), through sock, any AF_INET socket.
func setHardwareAddr(sock int, name string, mac net.HardwareAddr) error {
	var r ifreqHW
	copy(r.name[:unix.IFNAMSIZ-1], name)
	r.family = unix.ARPHRD_ETHER
	copy(r.data[:], mac)
	return ioctlPtr(sock, unix.SIOCSIFHWADDR, unsafe.Pointer(&r))
}

// rtentry is the kernel's struct rtentry (linux/route.h), for SIOCADDRT.
type rtentry struct {
	pad1    uintptr
	dst     unix.RawSockaddrInet4
	gateway unix.RawSockaddrInet4
	genmask unix.RawSockaddrInet4
	flags   uint16
	pad2    int16
	pad3    uintptr
	pad4    uintptr
	metric  int16
	dev     *byte
	mtu     uintptr
	window  uintptr
	irtt    uint16
}

// addDefaultRoute adds the IPv4 default route through gw on the
// interface name (SIOCADDRT), through sock, an AF_INET socket.
func addDefaultRoute(sock int, name string, gw netip.Addr) error {
	dev, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	r := rtentry{flags: unix.RTF_UP | unix.RTF_GATEWAY, dev: dev}
	r.dst.Family = unix.AF_INET
	r.genmask.Family = unix.AF_INET
	r.gateway.Family = unix.AF_INET
	r.gateway.Addr = gw.As4()
	err = ioctlPtr(sock, unix.SIOCADDRT, unsafe.Pointer(&r))
	runtime.KeepAlive(dev)
	return err
}

// ioctlPtr is ioctl(fd, req, arg).
func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}
