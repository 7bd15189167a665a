package sandbox

import (
	"strings"
	"syscall"
	"testing"
)

func TestLinkHint(t *testing.T) {
	for _, tc := range []struct {
		path  string
		errno syscall.Errno
		want  string // in the hint; "" for none
	}{
		{"/dev/net/tun", syscall.ENOENT, "has no /dev/net/tun"},
		{"/dev/net/tun", syscall.EACCES, "chmod 0666 /dev/net/tun"},
		{"/dev/net/tun", syscall.EPERM, "chmod 0666 /dev/net/tun"},
		{"/dev/net/tun", syscall.ENODEV, "CONFIG_TUN"},
		{"eth0", syscall.EPERM, "TUNSETIFF"},
		{"eth0", syscall.EEXIST, ""},
	} {
		got := linkHint(tc.path, tc.errno)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("linkHint(%s, %v) = %q, want it to say %q", tc.path, tc.errno, got, tc.want)
		}
	}
}
