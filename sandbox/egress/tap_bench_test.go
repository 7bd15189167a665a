package egress

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/corral-dev/corral/internal/netstack/netstacktest"
	"github.com/corral-dev/corral/sandbox"
)

// BenchmarkBulkTCPRealTAP measures one bulk TCP connection from a kernel
// TCP socket in a network namespace of its own, through a real TAP (as a
// sandbox's eth0 is set up: MTU 65520, 10.0.2.100/24 via 10.0.2.2), the
// egress stack and a server on 127.0.0.1: the figure the 2 Gbit/s
// target is about. It needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and
// nsenter and ip; it skips without them. The namespace lives on one locked
// thread that ends with the benchmark.
func BenchmarkBulkTCPRealTAP(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: it creates a network namespace and a TAP in it")
	}
	for _, tool := range []string{"nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s: %v", tool, err)
		}
	}
	for _, dir := range []string{"up", "down"} {
		b.Run(dir, func(b *testing.B) {
			done := make(chan struct{})
			defer close(done)
			type setup struct {
				tap  *os.File
				dial func(network, addr string) (net.Conn, error)
				err  error
			}
			ready := make(chan setup)
			go func() {
				// The thread enters a new network namespace and is never
				// unlocked: it exits with this goroutine.
				runtime.LockOSThread()
				if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
					ready <- setup{err: fmt.Errorf("unshare: %w", err)}
					return
				}
				tap, err := openTAP("eth0")
				if err != nil {
					ready <- setup{err: err}
					return
				}
				ns := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
				for _, args := range [][]string{
					{"link", "set", "lo", "up"},
					{"link", "set", "eth0", "address", "02:00:00:00:00:64", "mtu", "65520", "up"},
					{"addr", "add", "10.0.2.100/24", "dev", "eth0"},
					{"route", "add", "default", "via", "10.0.2.2"},
				} {
					out, err := exec.Command("nsenter", append([]string{"--net=" + ns, "ip"}, args...)...).CombinedOutput()
					if err != nil {
						tap.Close()
						ready <- setup{err: fmt.Errorf("ip %v: %v: %s", args, err, out)}
						return
					}
				}
				dials := make(chan [2]string)
				conns := make(chan net.Conn)
				errs := make(chan error)
				ready <- setup{tap: tap, dial: func(network, addr string) (net.Conn, error) {
					dials <- [2]string{network, addr}
					select {
					case c := <-conns:
						return c, nil
					case err := <-errs:
						return nil, err
					}
				}}
				for {
					select {
					case d := <-dials:
						// The socket is created on this thread: in the namespace.
						c, err := net.DialTimeout(d[0], d[1], 10*time.Second)
						if err != nil {
							errs <- err
						} else {
							conns <- c
						}
					case <-done:
						return
					}
				}
			}()
			s := <-ready
			if s.err != nil {
				b.Fatal(s.err)
			}
			p := mustPolicy(b, mustRule(b, "203.0.113.7:80"), mustRule(b, "bulk.test:80"))
			sink := listen(b, func(c net.Conn) {
				if dir == "up" {
					io.CopyBuffer(io.Discard, struct{ io.Reader }{c}, make([]byte, chunk))
					return
				}
				buf := make([]byte, chunk)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			})
			p.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, sink)
			}
			att, err := p.Attach(&sandbox.Link{File: s.tap, MTU: 65520, MAC: netstacktest.MAC, Addr: netstacktest.Addr,
				Gateway: netstacktest.Gateway, DNS: netstacktest.DNS, ID: "sb-tap"})
			if err != nil {
				b.Fatal(err)
			}
			defer att.Close()
			// The kernel's DNS query (ARP for the DNS address, UDP) is
			// answered with a synthetic address.
			u, err := s.dial("udp", "10.0.2.3:53")
			if err != nil {
				b.Fatal(err)
			}
			u.SetDeadline(time.Now().Add(10 * time.Second))
			u.Write(dnsQuery(b, "bulk.test."))
			ans := make([]byte, 512)
			n, err := u.Read(ans)
			u.Close()
			var m dnsmessage.Message
			if err != nil || m.Unpack(ans[:n]) != nil || len(m.Answers) != 1 {
				b.Fatalf("the kernel's DNS query: %v %+v", err, m)
			}
			c, err := s.dial("tcp", "203.0.113.7:80")
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			measureBulk(b, c, dir)
		})
	}
}

// openTAP creates the TAP name (IFF_TAP|IFF_NO_PI) in the calling thread's
// network namespace.
func openTAP(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	return os.NewFile(uintptr(fd), "tap"), nil
}
