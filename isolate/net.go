package isolate

import "golang.org/x/sys/unix"

// LoopbackUp brings up the loopback interface of the current network namespace.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return stepErr("loopback", "lo", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return stepErr("loopback", "lo", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return stepErr("loopback", "lo", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return stepErr("loopback", "lo", unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr))
}

// SetHostname sets the host name of the current UTS namespace.
func SetHostname(name string) error {
	return stepErr("hostname", name, unix.Sethostname([]byte(name)))
}
