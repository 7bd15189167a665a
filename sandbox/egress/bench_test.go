package egress

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkBulkTCP measures one bulk TCP connection through the egress
// stack, both stacks in this process joined by a unix SOCK_SEQPACKET socket
// pair (64 KiB frames), to a server on 127.0.0.1: "up" is sandbox to host,
// "down" host to sandbox. Both stacks and the copies share the CPUs, so the
// figure is not a real TAP's (there the sandbox's side is its kernel's).
func BenchmarkBulkTCP(b *testing.B) {
	for _, dir := range []string{"up", "down"} {
		b.Run(dir, func(b *testing.B) {
			e := newEnv(b, mustPolicy(b, Rule{Host: "bulk.test", Port: 80}), false)
			e.serve("bulk.test:80", func(c net.Conn) {
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
			c, err := e.dial(netip.AddrPortFrom(e.resolve("bulk.test"), 80))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			measureBulk(b, c, dir)
		})
	}
}

// measureBulk moves chunks over c, written ("up") or read ("down"), b.N
// times, and reports the rate in Gbit/s.
func measureBulk(b *testing.B, c net.Conn, dir string) {
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var err error
		if dir == "up" {
			_, err = c.Write(buf)
		} else {
			_, err = io.ReadFull(c, buf)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*chunk*8/time.Since(start).Seconds()/1e9, "Gbit/s")
}

// chunk is the benchmarks' unit of transfer.
const chunk = 1 << 20
