package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// errLocked: a non-blocking lock is held by someone else.
var errLocked = errors.New("image: locked")

// flock is a held flock(2) lock on a file in locks/. It holds a bare fd:
// OpenImage's cached path takes one, and an *os.File costs several
// syscalls more (poller registration, flag probes).
type flock struct {
	fd   int
	path string
}

// lockFile takes a flock on path (creating it): how is unix.LOCK_SH or
// unix.LOCK_EX. With wait false it returns errLocked at once when the
// lock is held; else it waits, polling, until ctx is done. A lock file
// may be removed (by its holder of LOCK_EX): the lock is retaken when the
// file locked is no longer the one at path.
func lockFile(ctx context.Context, path string, how int, wait bool) (*flock, error) {
	delay := time.Millisecond
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("image: lock %s: %w", path, err)
		}
		for {
			err = unix.Flock(fd, how|unix.LOCK_NB)
			if err != unix.EINTR {
				break
			}
		}
		if err == nil {
			if same(fd, path) {
				return &flock{fd, path}, nil
			}
			unix.Close(fd)
			continue
		}
		unix.Close(fd)
		if err != unix.EWOULDBLOCK {
			return nil, fmt.Errorf("image: lock %s: %w", path, err)
		}
		if !wait {
			return nil, errLocked
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("image: waiting for %s: %w", path, context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// same reports whether the open file fd is still the file at path.
func same(fd int, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// unlock releases the lock.
func (l *flock) unlock() error {
	if l == nil || l.fd < 0 {
		return nil
	}
	err := unix.Close(l.fd) // closing the only fd releases the flock
	l.fd = -1
	return err
}

// remove deletes the lock file, then releases the lock: a waiter then
// finds its file stale and takes a lock on a new one.
func (l *flock) remove() error {
	err := os.Remove(l.path)
	return errors.Join(err, l.unlock())
}

// readSmall reads a small regular file with three syscalls (os.ReadFile
// takes about twice as many).
func readSmall(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 4096)
	n := 0
	for {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return b[:n], nil
		}
		n += m
		if n < len(b) {
			return b[:n], nil // a short read of a regular file: its end
		}
		b = append(b, make([]byte, len(b))...)
	}
}
