package protocol

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// FilesSocketpair returns the two ends of a new fd socket (seqpacket,
// close-on-exec): the host's and the init's.
func FilesSocketpair() (host, init *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("protocol: fd socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "corral-files"), os.NewFile(uintptr(fds[1]), "corral-init-files"), nil
}

// SendFiles sends files over the fd socket in one message.
func SendFiles(sock *os.File, files []*os.File) error {
	if len(files) > MaxFiles {
		return fmt.Errorf("protocol: %d files, at most %d", len(files), MaxFiles)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	raw, err := sock.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), []byte{'F'}, unix.UnixRights(fds...), nil, 0)
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("protocol: sending files: %w", err)
	}
	return nil
}

// RecvFiles receives exactly n files, close-on-exec, from the fd socket
// fd (a blocking one). On an error none is left open.
func RecvFiles(fd, n int) ([]int, error) {
	if n < 0 || n > MaxFiles {
		return nil, fmt.Errorf("protocol: %d files, at most %d", n, MaxFiles)
	}
	oob := make([]byte, unix.CmsgSpace(4*MaxFiles))
	var buf [1]byte
	for {
		_, oobn, flags, _, err := unix.Recvmsg(fd, buf[:], oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("protocol: receiving files: %w", err)
		}
		var got []int
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err == nil {
					got = append(got, fds...)
				}
			}
		}
		switch {
		case flags&unix.MSG_CTRUNC != 0:
			err = errors.New("protocol: files truncated")
		case len(got) != n:
			err = fmt.Errorf("protocol: received %d files, want %d", len(got), n)
		}
		if err != nil {
			for _, f := range got {
				unix.Close(f)
			}
			return nil, err
		}
		return got, nil
	}
}
