package sandbox

import (
	"cmp"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/corral-dev/corral/isolate"
)

// TestImagePlan: an image's root gets none of the default root's binds
// nor its /etc, but its own /etc/hostname and hosts (and resolv.conf with
// NetworkEgress), none of them under Reuse, whose root is read-only.
func TestImagePlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want []string // the /etc files written, in order
	}{
		{"image", Options{Image: "x", Hostname: "h"}, []string{"/etc/hostname=h\n", "/etc/hosts"}},
		{"egress", Options{Image: "x", Network: NetworkEgress}, []string{"/etc/hostname=corral\n", "/etc/hosts", "/etc/resolv.conf=" + egressResolvConf}},
		{"reuse", Options{Image: "x", Pool: 1, Reuse: true}, nil},
	} {
		var got []string
		for _, m := range tc.opts.plan(os.Lstat, os.Readlink) {
			if m.Kind == isolate.Bind && m.Source == "/usr" {
				t.Errorf("%s: the host's /usr is bound into an image's root", tc.name)
			}
			if m.Kind == isolate.File && strings.HasPrefix(m.Target, "/etc/") {
				e := m.Target
				if m.Target != "/etc/hosts" {
					e += "=" + m.Data
				} else if !strings.Contains(m.Data, "localhost "+cmp.Or(tc.opts.Hostname, defaultHostname)) {
					t.Errorf("%s: /etc/hosts %q lacks the host name", tc.name, m.Data)
				}
				got = append(got, e)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: /etc files %q, want %q", tc.name, got, tc.want)
		}
	}
	// The control: the default root gets the host's /usr and its own /etc.
	var usr bool
	for _, m := range (&Options{}).plan(os.Lstat, os.Readlink) {
		usr = usr || m.Kind == isolate.Bind && m.Source == "/usr"
	}
	if !usr {
		t.Error("control: the default root has no bind of /usr")
	}
}

// TestMergeEnv: the command's entries replace the image's of the same key,
// in place of them; the rest follow.
func TestMergeEnv(t *testing.T) {
	for _, tc := range []struct {
		base, over, want []string
	}{
		{nil, nil, []string{}},
		{[]string{"A=1", "B=2"}, nil, []string{"A=1", "B=2"}},
		{[]string{"A=1", "B=2"}, []string{"B=3", "C=4"}, []string{"A=1", "B=3", "C=4"}},
		{[]string{"PATH=/bin"}, []string{"PATH="}, []string{"PATH="}},
		{[]string{"AB=1"}, []string{"A=2"}, []string{"AB=1", "A=2"}},
	} {
		if got := mergeEnv(tc.base, tc.over); !slices.Equal(got, tc.want) {
			t.Errorf("mergeEnv(%q, %q) = %q, want %q", tc.base, tc.over, got, tc.want)
		}
	}
}
