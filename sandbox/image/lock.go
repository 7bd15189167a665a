package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errLocked: a non-blocking lock is held by someone else.
var errLocked = errors.New("image: locked")

// flock is a held flock(2) lock on a file in locks/.
type flock struct{ f *os.File }

// lockFile takes a flock on path (creating it): how is unix.LOCK_SH or
// unix.LOCK_EX. With wait false it returns errLocked at once when the
// lock is held; else it waits, polling, until ctx is done. A lock file
// may be removed (by its holder of LOCK_EX): the lock is retaken when the
// file locked is no longer the one at path.
func lockFile(ctx context.Context, path string, how int, wait bool) (*flock, error) {
	delay := time.Millisecond
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("image: lock: %w", err)
		}
		for {
			err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
			if err != unix.EINTR {
				break
			}
		}
		if err == nil {
			if same(f, path) {
				return &flock{f}, nil
			}
			f.Close()
			continue
		}
		f.Close()
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

// same reports whether the open file f is still the file at path.
func same(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// unlock releases the lock.
func (l *flock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the only fd releases the flock
	l.f = nil
	return err
}

// remove deletes the lock file, then releases the lock: a waiter then
// finds its file stale and takes a lock on a new one.
func (l *flock) remove() error {
	err := os.Remove(l.f.Name())
	return errors.Join(err, l.unlock())
}
