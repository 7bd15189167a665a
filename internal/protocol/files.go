package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

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

// chunk is the most bytes of one message on the fd socket: well under the
// socket's buffer, so a message never fails for its size.
const chunk = 32 << 10

// SendExec sends e with its files over the fd socket sock: the files ride
// on the first message, with the length of e's wire form (wire.go) and
// its start; the rest (long arguments or environments) follows in more
// messages. One message carries a usual command whole.
func SendExec(sock *os.File, e *Exec, files []*os.File) error {
	if len(files) > MaxFiles {
		return fmt.Errorf("protocol: %d files, at most %d", len(files), MaxFiles)
	}
	if n := e.FileCount(); n != len(files) {
		return fmt.Errorf("protocol: Exec needs %d files, got %d", n, len(files))
	}
	var w writer
	w.exec(e)
	js := w.b
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	data := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(js)), uint32(len(js)))
	data = append(data, js...)
	raw, err := sock.SyscallConn()
	if err != nil {
		return err
	}
	oob := unix.UnixRights(fds...)
	for len(data) > 0 {
		msg := data[:min(len(data), chunk)]
		var serr error
		err = raw.Write(func(fd uintptr) bool {
			serr = unix.Sendmsg(int(fd), msg, oob, nil, 0)
			return serr != unix.EAGAIN
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("protocol: sending the command: %w", err)
		}
		data, oob = data[len(msg):], nil
	}
	return nil
}

// RecvExec receives what SendExec sent, from the (blocking) fd socket fd:
// the command and its files, close-on-exec. On an error no file is left
// open; io.EOF means the host closed the socket.
func RecvExec(fd int) (*Exec, []int, error) {
	buf := make([]byte, chunk)
	oob := make([]byte, unix.CmsgSpace(4*MaxFiles))
	var files []int
	fail := func(err error) (*Exec, []int, error) {
		for _, f := range files {
			unix.Close(f)
		}
		return nil, nil, err
	}
	var js []byte
	want := -1
	for want < 0 || len(js) < want {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("protocol: receiving the command: %w", err))
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return fail(fmt.Errorf("protocol: receiving the command: %w", err))
			}
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					files = append(files, fds...)
				}
			}
		}
		switch {
		case n == 0 && want < 0:
			return fail(io.EOF)
		case flags&(unix.MSG_CTRUNC|unix.MSG_TRUNC) != 0:
			return fail(errors.New("protocol: command message truncated"))
		case want < 0 && n < 4:
			return fail(errors.New("protocol: short command message"))
		case want < 0:
			want = int(binary.LittleEndian.Uint32(buf))
			js = make([]byte, 0, want)
			js = append(js, buf[4:n]...)
		case n == 0 || oobn > 0:
			return fail(errors.New("protocol: command message cut short"))
		default:
			js = append(js, buf[:n]...)
		}
	}
	if len(js) != want {
		return fail(fmt.Errorf("protocol: command of %d bytes, announced %d", len(js), want))
	}
	r := &reader{b: js}
	e := r.exec()
	if err := r.end(); err != nil {
		return fail(fmt.Errorf("protocol: the command: %w", err))
	}
	if n := e.FileCount(); n != len(files) {
		return fail(fmt.Errorf("protocol: received %d files, want %d", len(files), n))
	}
	return e, files, nil
}

// SendTerminal sends the master of run's pty, fd, on the fd socket sockFd
// (the init's end; blocking), with the run (Exec.Run) as its payload: in a
// live sandbox several commands may get terminals, and the host hands each
// master to its run.
func SendTerminal(sockFd, run, fd int) error {
	for {
		err := unix.Sendmsg(sockFd, []byte(strconv.Itoa(run)), unix.UnixRights(fd), nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("protocol: sending the terminal: %w", err)
		}
		return nil
	}
}

// RecvTerminal receives what SendTerminal sent, on the fd socket sock (the
// host's end): the run, and its pty's master, close-on-exec and
// non-blocking.
func RecvTerminal(sock *os.File) (int, *os.File, error) {
	raw, err := sock.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	buf := make([]byte, 20)
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, nil, fmt.Errorf("protocol: receiving the terminal: %w", err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if f, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	run, rerr := strconv.Atoi(string(buf[:n]))
	if rerr != nil || len(fds) != 1 {
		for _, f := range fds {
			unix.Close(f)
		}
		return 0, nil, errors.New("protocol: receiving the terminal: no terminal in the message")
	}
	// Non-blocking, so that the file uses the runtime's poller: its reads
	// take deadlines, and Close does not wait for a blocked read.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return 0, nil, fmt.Errorf("protocol: receiving the terminal: %w", err)
	}
	return run, os.NewFile(uintptr(fds[0]), "corral-terminal"), nil
}

// hostFilesTag is the payload of SendHostFiles's message, which no
// terminal's (a run number) can be.
const hostFilesTag = "host-files"

// SendHostFiles sends fds, the files the spec asked the init for (the TAP
// of Spec.Link, then the listener of Spec.Notify), on the fd socket sockFd
// (the init's end; blocking), in one message, before the init's first
// Ready.
func SendHostFiles(sockFd int, fds []int) error {
	for {
		err := unix.Sendmsg(sockFd, []byte(hostFilesTag), unix.UnixRights(fds...), nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("protocol: sending the host's files: %w", err)
		}
		return nil
	}
}

// RecvHostFiles receives what SendHostFiles sent, on the fd socket sock
// (the host's end): exactly n files, close-on-exec, named by names (one
// each), and non-blocking so that they use the runtime's poller.
func RecvHostFiles(sock *os.File, names ...string) ([]*os.File, error) {
	raw, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, len(hostFilesTag)+1)
	oob := make([]byte, unix.CmsgSpace(4*len(names)))
	var n, oobn, flags int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("protocol: receiving the host's files: %w", err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if f, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	if string(buf[:n]) != hostFilesTag || len(fds) != len(names) || flags&unix.MSG_CTRUNC != 0 {
		for _, f := range fds {
			unix.Close(f)
		}
		return nil, fmt.Errorf("protocol: receiving the host's files: got %q with %d files, want %d", buf[:n], len(fds), len(names))
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			for _, f := range fds[i:] {
				unix.Close(f)
			}
			for _, f := range files[:i] {
				f.Close()
			}
			return nil, fmt.Errorf("protocol: receiving the host's files: %w", err)
		}
		files[i] = os.NewFile(uintptr(fd), names[i])
	}
	return files, nil
}
