package isolate

// Bind sources, opened before the root is built.

import (
	"golang.org/x/sys/unix"
)

// Sources holds the bind sources opened ahead of BuildRoot as detached mount
// trees, so that mounting over their host paths cannot change what is bound.
type Sources struct {
	root int
	fds  []int // -1 where an optional source was missing or none is needed
}

// OpenSources opens root.Dir and every Bind, Device and Mask source as a
// detached mount tree (open_tree with OPEN_TREE_CLONE). It must run in the
// sandbox's mount namespace, before anything is mounted over the sources.
// The paths must be canonical (resolve symlinks beforehand, e.g. with
// filepath.EvalSymlinks): they are opened without following any symlink, so
// a symlink swapped into a source path meanwhile fails the set-up (ELOOP)
// instead of binding what it points to.
func OpenSources(root Root, mounts []Mount) (*Sources, error) {
	s := &Sources{root: -1, fds: make([]int, len(mounts))}
	for i := range s.fds {
		s.fds[i] = -1
	}
	if root.Dir != "" {
		open := openTree
		if root.Image {
			open = func(_ int, dir string) (int, error) { return openImage(dir) }
		}
		fd, err := open(unix.AT_FDCWD, root.Dir)
		if err != nil {
			return nil, stepErr("root", root.Dir, err)
		}
		s.root = fd
	}
	for i, m := range mounts {
		if !m.needsSource() {
			continue
		}
		src := m.Source
		if m.Kind == Mask {
			src = "/dev/null"
		}
		fd, err := openTree(unix.AT_FDCWD, src)
		if err == unix.ENOENT && m.Optional {
			continue
		}
		if err != nil {
			s.Close()
			return nil, stepErr(string(m.Kind), src, err)
		}
		s.fds[i] = fd
	}
	return s, nil
}

// Close closes the trees that were not used.
func (s *Sources) Close() {
	if s.root >= 0 {
		unix.Close(s.root)
		s.root = -1
	}
	for i, fd := range s.fds {
		if fd >= 0 {
			unix.Close(fd)
			s.fds[i] = -1
		}
	}
}
