package pid1

// The files the host asked for in its spec, sent to it before the first
// Ready (protocol.SendHostFiles).

import (
	"github.com/corral-dev/corral/internal/protocol"
	"golang.org/x/sys/unix"
)

// hostFiles are the fds the spec asked for, in the order the host receives
// them: the seccomp listener (Spec.Notify).
func (s *state) hostFiles() []int {
	var fds []int
	if s.spec.Notify {
		fds = append(fds, s.listener)
	}
	return fds
}

// sendHostFiles sends fds to the host in one message on the fd socket, if
// there are any, and closes the init's copies: from then on only the host
// holds them, and no command can inherit them.
func (s *state) sendHostFiles(fds []int) error {
	if len(fds) == 0 {
		return nil
	}
	err := protocol.SendHostFiles(s.files, fds)
	for _, fd := range fds {
		unix.Close(fd)
	}
	return err
}
