package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/corral-dev/corral/isolate"
)

// debianEtc is a host /etc of 140 entries, a few of them secret.
func debianEtc() fstest.MapFS {
	m := fstest.MapFS{
		"shadow":                   {Mode: 0o640},
		"passwd":                   {Mode: 0o644},
		"group":                    {Mode: 0o644},
		"hostname":                 {Mode: 0o644},
		"hosts":                    {Mode: 0o644},
		"machine-id":               {Mode: 0o444},
		"os-release":               {Mode: fs.ModeSymlink, Data: []byte("../usr/lib/os-release")},
		"resolv.conf":              {Mode: fs.ModeSymlink, Data: []byte("../run/systemd/resolve/stub-resolv.conf")},
		"localtime":                {Mode: fs.ModeSymlink, Data: []byte("/usr/share/zoneinfo/Etc/UTC")},
		"ssl":                      {Mode: fs.ModeDir | 0o755},
		"ssl/private":              {Mode: fs.ModeDir | 0o710},
		"ssl/private/k.key":        {Mode: 0o640},
		"ssl/certs/ca.pem":         {Mode: 0o644},
		"java-17-openjdk/x.conf":   {Mode: 0o644},
		"postgresql/pg_hba.conf":   {Mode: 0o640},
		"ssh/ssh_host_rsa_key":     {Mode: 0o600},
		"ssh/ssh_config":           {Mode: 0o644},
		"ssh/ssh_host_rsa_key.pub": {Mode: 0o644},
	}
	for i := len(m); i < 140; i++ {
		m[fmt.Sprintf("conf%03d", i)] = &fstest.MapFile{Mode: 0o644}
	}
	return m
}

func targets(ms []isolate.Mount, kind isolate.Kind) []string {
	var out []string
	for _, m := range ms {
		if m.Kind == kind {
			out = append(out, m.Target)
		}
	}
	return out
}

func TestPlanEtcWhole(t *testing.T) {
	o := Options{}
	ms := o.planEtc("h", debianEtc())
	// One bind, masks, generated files, and resolv.conf (out of view): not
	// one mount per entry.
	if len(ms) > 25 || ms[0].Kind != isolate.Bind || ms[0].Target != "/etc" || !ms[0].ReadOnly {
		t.Fatalf("%d entries, first %+v", len(ms), ms[0])
	}
	masks := targets(ms, isolate.Mask)
	for _, want := range []string{"/etc/shadow", "/etc/ssl/private", "/etc/postgresql/pg_hba.conf", "/etc/ssh/ssh_host_rsa_key", "/etc/gshadow", "/etc/sudoers.d"} {
		if !slices.Contains(masks, want) {
			t.Errorf("%s not masked: %q", want, masks)
		}
	}
	for _, no := range []string{"/etc/ssl/private/k.key", "/etc/ssh/ssh_host_rsa_key.pub", "/etc/ssh/ssh_config"} {
		if slices.Contains(masks, no) {
			t.Errorf("%s masked", no)
		}
	}
	if got := targets(ms, isolate.File); !slices.Equal(got, []string{"/etc/passwd", "/etc/group", "/etc/hostname", "/etc/hosts", "/etc/machine-id"}) {
		t.Errorf("generated files %q", got)
	}
	binds := targets(ms, isolate.Bind)
	if !slices.Equal(binds, []string{"/etc", "/etc/resolv.conf"}) {
		t.Errorf("binds %q: want /etc and resolv.conf (localtime leads into /usr)", binds)
	}
	for _, m := range ms {
		if m.Target == "/etc/resolv.conf" && !m.NoFollow {
			t.Errorf("resolv.conf follows the host's symlink: %+v", m)
		}
	}
}

func TestPlanEtcExpanded(t *testing.T) {
	o := Options{Mounts: []Mount{Bind("/srv/a.conf", "/etc/myapp.conf"), Bind("/srv/k", "/etc/ssl/private/mine")}}
	ms := o.planEtc("h", debianEtc())
	if slices.Contains(targets(ms, isolate.Bind), "/etc") {
		t.Fatal("/etc bound whole, but the host's lacks /etc/myapp.conf")
	}
	binds, links := targets(ms, isolate.Bind), targets(ms, isolate.Symlink)
	for _, want := range []string{"/etc/conf139", "/etc/java-17-openjdk", "/etc/ssl/certs", "/etc/resolv.conf"} {
		if !slices.Contains(binds, want) {
			t.Errorf("%s not bound: %q", want, binds)
		}
	}
	for _, no := range []string{"/etc/shadow", "/etc/ssl", "/etc/ssl/private", "/etc/passwd", "/etc/machine-id"} {
		if slices.Contains(binds, no) {
			t.Errorf("%s bound", no)
		}
	}
	if !slices.Equal(links, []string{"/etc/localtime", "/etc/os-release"}) {
		t.Errorf("symlinks %q", links)
	}
	if masks := targets(ms, isolate.Mask); !slices.Contains(masks, "/etc/postgresql/pg_hba.conf") || !slices.Contains(masks, "/etc/ssh/ssh_host_rsa_key") {
		t.Errorf("masks beneath bound entries: %q", masks)
	}
	// A mount at /etc replaces it all.
	o = Options{Mounts: []Mount{Tmpfs("/etc", 0)}}
	if ms := o.planEtc("h", debianEtc()); len(ms) != 1 {
		t.Errorf("with the caller's /etc: %+v", ms)
	}
}

// BenchmarkPlanHostEtc is what New spends planning the default root with
// the host's /etc (its walk included).
func BenchmarkPlanHostEtc(b *testing.B) {
	o := Options{}
	for b.Loop() {
		o.plan(os.Lstat, os.Readlink)
	}
}
