package pid1

// The sandbox's end of a NetworkEgress network (Spec.Link), and the files
// the init hands the host before its first Ready.

import (
	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// linkUp creates and configures the interface of Spec.Link, a TAP device
// whose fd goes to the host (hostFiles). It runs before the pivot: it
// opens the host's /dev/net/tun, which the sandbox's /dev lacks, and
// writes the network namespace's IPv6 sysctls through the host's /proc,
// which shows this namespace's.
func (s *state) linkUp() error {
	if s.spec.Link == nil {
		return nil
	}
	l, err := protocol.IsolateLink(s.spec.Link)
	if err != nil {
		return &isolate.Error{Step: "link", Path: s.spec.Link.Name, Err: err}
	}
	fd, err := isolate.CreateLink(l)
	if err != nil {
		return err
	}
	s.hostFiles = append(s.hostFiles, fd)
	return nil
}

// sendHostFiles sends the host fds, in one message on the fd socket, and
// closes the init's copies: the host's are the only ones left. Nothing
// to send sends nothing.
func (s *state) sendHostFiles(fds []int) error {
	if len(fds) == 0 {
		return nil
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	return protocol.SendHostFiles(s.files, fds)
}
