package sandbox

// Port forwarding into a NetworkEgress sandbox: Dial and Forward, on a
// Box and on a Process, through the sandbox's Attachment.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ErrNetworkEnded is matched by the error of a Dial or Forward whose
// sandbox has ended, and with it its network.
var ErrNetworkEnded = errors.New("sandbox: the sandbox's network has ended")

// Dial connects to port of the Box's eth0 (10.0.2.100), from the host's
// end of its NetworkEgress network: to a server a command of the Box
// listens with (on 0.0.0.0 or 10.0.2.100, not 127.0.0.1). Without
// NetworkEgress it returns an *OptionError.
func (x *Box) Dial(ctx context.Context, port int) (net.Conn, error) {
	return x.b.dial(ctx, port)
}

// Forward listens on the host's address listen ("127.0.0.1:8080", or
// "127.0.0.1:0" for a free port: see the listener's Addr) and splices
// each connection it accepts to a new Dial(port). Closing the listener
// ends it and the connections it accepted; Stop (or any end of the Box)
// closes it. Without NetworkEgress it returns an *OptionError.
func (x *Box) Forward(listen string, port int) (net.Listener, error) {
	return x.b.forward(listen, port)
}

// Dial is Box.Dial for the sandbox of the Process (a Run): it works while
// the command runs; Wait ends the sandbox's network.
func (p *Process) Dial(ctx context.Context, port int) (net.Conn, error) {
	return p.box.dial(ctx, port)
}

// Forward is Box.Forward for the sandbox of the Process (a Run): Wait
// closes the listener.
func (p *Process) Forward(listen string, port int) (net.Listener, error) {
	return p.box.forward(listen, port)
}

// checkForward checks that the sandbox can forward to port.
func (b *booted) checkForward(port int) error {
	if n := b.sb.opts.Network; n != NetworkEgress {
		return &OptionError{"Options.Network", n, "must be NetworkEgress for Dial and Forward: only a NetworkEgress sandbox has a network the host reaches (set Options.Network and Options.Egress)"}
	}
	if port < 1 || port > 65535 {
		return &OptionError{"port", port, "must be a TCP port, 1 to 65535"}
	}
	return nil
}

// dial connects to port in the sandbox, through its Attachment.
func (b *booted) dial(ctx context.Context, port int) (net.Conn, error) {
	if err := b.checkForward(port); err != nil {
		return nil, err
	}
	att := b.net.attachment()
	if att == nil {
		return nil, ErrNetworkEnded
	}
	c, err := att.DialContext(ctx, port)
	if err != nil {
		return nil, fmt.Errorf("sandbox: dial port %d in the sandbox: %w", port, err)
	}
	return c, nil
}

// forward starts a forwarder from listen to port.
func (b *booted) forward(listen string, port int) (net.Listener, error) {
	if err := b.checkForward(port); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("sandbox: forward to port %d: %w", port, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &forwarder{Listener: l, n: &b.net, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{},
		dial: func(ctx context.Context) (net.Conn, error) { return b.dial(ctx, port) }}
	if !b.net.addForward(f) {
		cancel()
		l.Close()
		return nil, ErrNetworkEnded
	}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// forwarder is a listener whose connections are spliced to a port in a
// sandbox (Forward).
type forwarder struct {
	net.Listener
	n      *egressNet
	dial   func(context.Context) (net.Conn, error)
	ctx    context.Context // cancelled by Close: ends dials under way
	cancel context.CancelFunc
	wg     sync.WaitGroup // serve and the splices

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // both ends of every splice, closed by Close

	once sync.Once
	err  error
}

// Close stops the listener, closes its connections and waits for its
// goroutines.
func (f *forwarder) Close() error {
	f.once.Do(func() {
		f.err = f.Listener.Close()
		f.cancel()
		f.mu.Lock()
		f.closed = true
		for c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.n.removeForward(f)
		f.wg.Wait()
	})
	return f.err
}

// track registers c (to be closed by Close) and, with spliceToo, a splice
// to wait for; false when the forwarder is closed.
func (f *forwarder) track(c net.Conn, spliceToo bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	if spliceToo {
		f.wg.Add(1)
	}
	return true
}

// untrack closes c and forgets it.
func (f *forwarder) untrack(c net.Conn) {
	c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// serve accepts connections until the listener is closed.
func (f *forwarder) serve() {
	defer f.wg.Done()
	pause := time.Millisecond
	for {
		c, err := f.Listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of fds, say: wait a little
			select {
			case <-f.ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
			continue
		}
		pause = time.Millisecond
		if !f.track(c, true) {
			c.Close()
			return
		}
		go f.splice(c)
	}
}

// splice connects c to the sandbox's port and copies both ways until
// both are done; an error on either way ends both.
func (f *forwarder) splice(c net.Conn) {
	defer f.wg.Done()
	defer f.untrack(c)
	d, err := f.dial(f.ctx)
	if err != nil {
		return
	}
	if !f.track(d, false) {
		d.Close()
		return
	}
	defer f.untrack(d)
	done := make(chan struct{})
	go func() {
		copyHalf(d, c)
		close(done)
	}()
	copyHalf(c, d)
	<-done
}

// copyHalf copies src to dst; at src's end it closes dst for writing
// (the peer sees EOF), and after an error it closes both.
func copyHalf(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		cw.CloseWrite()
		return
	}
	dst.Close()
	src.Close()
}
