package sandbox_test

// A test double of Options.Egress: it reads the frames the sandbox's eth0
// sends, answers nothing, counts how often each Attachment is closed, and
// serves DialContext with an in-memory echo server (for Dial, Forward).

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// fakeEgress is the double.
type fakeEgress struct {
	attachErr error // Attach fails with it (having closed the link's File)

	mu     sync.Mutex
	atts   []*fakeAttachment
	frames []frame
	seen   chan struct{} // a frame came (capacity 1)
}

// frame is one Ethernet frame read from a link.
type frame struct {
	link string // Link.ID
	data []byte
}

func newFakeEgress() *fakeEgress { return &fakeEgress{seen: make(chan struct{}, 1)} }

// Attach implements sandbox.Egress.
func (e *fakeEgress) Attach(l *sandbox.Link) (sandbox.Attachment, error) {
	if e.attachErr != nil {
		l.File.Close()
		return nil, e.attachErr
	}
	a := &fakeAttachment{link: l, e: e}
	e.mu.Lock()
	e.atts = append(e.atts, a)
	e.mu.Unlock()
	a.wg.Add(1)
	go a.read()
	return a, nil
}

// attachments returns the attachments made so far.
func (e *fakeEgress) attachments() []*fakeAttachment {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*fakeAttachment(nil), e.atts...)
}

// waitFrame waits until match accepts a frame read so far, and returns it.
func (e *fakeEgress) waitFrame(t *testing.T, timeout time.Duration, match func([]byte) bool) []byte {
	t.Helper()
	deadline := time.After(timeout)
	for {
		e.mu.Lock()
		for _, f := range e.frames {
			if match(f.data) {
				e.mu.Unlock()
				return f.data
			}
		}
		e.mu.Unlock()
		select {
		case <-e.seen:
		case <-deadline:
			return nil
		}
	}
}

// fakeAttachment is one sandbox's link, served by fakeEgress.
type fakeAttachment struct {
	link   *sandbox.Link
	e      *fakeEgress
	closes atomic.Int32
	wg     sync.WaitGroup
	dials  sync.WaitGroup
}

// read collects the link's frames until its File is closed.
func (a *fakeAttachment) read() {
	defer a.wg.Done()
	buf := make([]byte, 14+a.link.MTU)
	for {
		n, err := a.link.File.Read(buf)
		if err != nil {
			return
		}
		a.e.mu.Lock()
		if len(a.e.frames) < 10000 {
			a.e.frames = append(a.e.frames, frame{a.link.ID, append([]byte(nil), buf[:n]...)})
		}
		a.e.mu.Unlock()
		select {
		case a.e.seen <- struct{}{}:
		default:
		}
	}
}

// DialContext implements sandbox.Attachment: an echo server, in memory,
// that first writes "port N\n".
func (a *fakeAttachment) DialContext(ctx context.Context, port int) (net.Conn, error) {
	if a.closes.Load() > 0 {
		return nil, errors.New("fake: attachment closed")
	}
	c, s := net.Pipe()
	a.dials.Add(1)
	go func() {
		defer a.dials.Done()
		defer s.Close()
		if _, err := io.WriteString(s, "port "+strconv.Itoa(port)+"\n"); err != nil {
			return
		}
		io.Copy(s, s)
	}()
	return c, nil
}

// Close implements sandbox.Attachment.
func (a *fakeAttachment) Close() error {
	a.closes.Add(1)
	err := a.link.File.Close()
	a.wg.Wait()
	a.dials.Wait()
	return err
}

// isARPRequest reports whether f is an ARP request from sender (mac, ip)
// for target.
func isARPRequest(f []byte, mac net.HardwareAddr, ip, target netip.Addr) bool {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0806 {
		return false
	}
	arp := f[14:]
	return binary.BigEndian.Uint16(arp[6:]) == 1 && // request
		net.HardwareAddr(arp[8:14]).String() == mac.String() &&
		netip.AddrFrom4([4]byte(arp[14:18])) == ip &&
		netip.AddrFrom4([4]byte(arp[24:28])) == target
}
