package isolate

// The extended attributes a reset puts back.

import (
	"strings"

	"golang.org/x/sys/unix"
)

// xattrs returns the extended attributes of fd (nil for none, or where
// the filesystem has none).
func xattrs(fd int) (map[string]string, error) {
	names, err := xattrNames(fd)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	m := make(map[string]string, len(names))
	for _, name := range names {
		n, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		if n, err = unix.Fgetxattr(fd, name, buf); err != nil {
			return nil, err
		}
		m[name] = string(buf[:n])
	}
	return m, nil
}

// restoreXattrs gives fd the extended attributes want, and no other.
func restoreXattrs(fd int, want map[string]string) error {
	names, err := xattrNames(fd)
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, ok := want[name]; !ok {
			if err := unix.Fremovexattr(fd, name); err != nil && err != unix.ENODATA {
				return err
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	got, err := xattrs(fd)
	if err != nil {
		return err
	}
	for name, value := range want {
		if v, ok := got[name]; !ok || v != value {
			if err := unix.Fsetxattr(fd, name, []byte(value), 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// xattrNames lists the names of fd's extended attributes.
func xattrNames(fd int) ([]string, error) {
	n, err := unix.Flistxattr(fd, nil)
	if err == unix.ENOTSUP || err == nil && n == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if n, err = unix.Flistxattr(fd, buf); err != nil {
		return nil, err
	}
	var names []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name != "" {
			names = append(names, name)
		}
	}
	return names, nil
}
