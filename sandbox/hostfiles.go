package sandbox

// The files the init hands the host before its first Ready (host side):
// the TAP of a NetworkEgress sandbox and the filter's listener of
// Options.Denials.

import (
	"fmt"
	"os"

	"github.com/corral-dev/corral/internal/protocol"
)

// startHostFiles starts receiving the files the spec asks the init for
// (takeHostFiles), before the init has sent them: they are put to use as
// soon as they come, not at Ready. (A call the filter refuses between the
// filter's installation and Ready, the launcher's, waits for the host's
// answer: the listener must be served by then.) The fd socket carries
// nothing else from the init until a command has started (terminals).
func (b *booted) startHostFiles() {
	if len(b.sb.hostFileNames()) == 0 {
		return
	}
	b.hostFiles = make(chan error, 1)
	go func() { b.hostFiles <- b.takeHostFiles() }()
}

// takeHostFiles receives the files the init sends before its first Ready
// (protocol.SendHostFiles), in the spec's order, and puts them to use: the
// TAP (Spec.Link) goes to Options.Egress (attachEgress), the filter's
// listener (Spec.Notify) to a denials. When the sandbox is being reaped
// already, they are closed instead. An init that ends before it sends
// them makes it fail (the end of the socket).
func (b *booted) takeHostFiles() error {
	names := b.sb.hostFileNames()
	b.termMu.Lock() // the one receiver on the fd socket (terminals come after Ready)
	files, err := protocol.RecvHostFiles(b.files, names...)
	b.termMu.Unlock()
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	byName := map[string]*os.File{}
	for i, n := range names {
		byName[n] = files[i]
	}
	if tap := byName[tapName]; tap != nil {
		delete(byName, tapName) // attachEgress owns it
		if err := b.attachEgress(tap); err != nil {
			for _, f := range byName {
				f.Close()
			}
			return err
		}
	}
	if l := byName[listenerName]; l != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.reaped {
			l.Close()
			return nil
		}
		b.sb.filter() // compiled long since: the spec held it; this orders its answers before their use
		b.denials = startDenials(l, b.sb.answers, b.sb.opts.Denials)
	}
	return nil
}
