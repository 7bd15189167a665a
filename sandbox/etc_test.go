package sandbox_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// The default root's /etc: the host's, its secrets hidden, the sandbox's
// own passwd, group, hostname, hosts and machine-id over the host's.

// etcEntry is a file, directory or symlink of a fake /etc.
type etcEntry struct {
	path string
	mode fs.FileMode // with fs.ModeDir for a directory
	data string      // file content, or symlink target with fs.ModeSymlink
}

// fakeEtc builds a host /etc in a temp directory (top/etc; top/run holds
// what a symlink out of the sandbox's view leads to) and makes the
// sandboxes made until the test ends show it.
func fakeEtc(t *testing.T, entries []etcEntry) string {
	t.Helper()
	top := t.TempDir()
	etc := filepath.Join(top, "etc")
	var dirs []etcEntry
	for _, e := range append([]etcEntry{{"", fs.ModeDir | 0o755, ""}}, entries...) {
		p := filepath.Join(etc, e.path)
		var err error
		switch {
		case e.mode&fs.ModeDir != 0:
			err = os.MkdirAll(p, 0o755)
			dirs = append(dirs, e)
		case e.mode&fs.ModeSymlink != 0:
			err = os.Symlink(e.data, p)
		default:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.WriteFile(p, []byte(e.data), 0o600)
			}
			if err == nil {
				err = os.Chmod(p, e.mode)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Directories last, deepest first, so that their contents could be made.
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := os.Chmod(filepath.Join(etc, d.path), d.mode.Perm()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // t.TempDir's removal needs to enter them
		for _, d := range dirs {
			os.Chmod(filepath.Join(etc, d.path), 0o755)
		}
	})
	if err := os.MkdirAll(filepath.Join(top, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := sandbox.SetHostEtc(etc)
	t.Cleanup(func() { sandbox.SetHostEtc(old) })
	return etc
}

// etcFixture is a host /etc with secrets of every kind, public files, and
// the files the sandbox generates. Every secret holds "SECRET".
var etcFixture = []etcEntry{
	{"public.conf", 0o644, "public\n"},
	{"secret", 0o600, "SECRET-owner-only\n"},
	{"grouponly", 0o640, "SECRET-group\n"},
	{"privdir", fs.ModeDir | 0o700, ""},
	{"privdir/key", 0o644, "SECRET-in-private-dir\n"},
	{"searchonly", fs.ModeDir | 0o711, ""},
	{"searchonly/file", 0o644, "SECRET-in-search-only-dir\n"},
	{"sub/ok", 0o644, "deep ok\n"},
	{"sub/deep/ok", 0o644, "deeper ok\n"},
	{"sub/deep/secret", 0o600, "SECRET-deep\n"},
	{"shadow", 0o644, "SECRET-shadow-world-readable\n"}, // masked by name
	{"ssh/ssh_config", 0o644, "ssh config\n"},
	{"ssh/ssh_host_ed25519_key", 0o644, "SECRET-host-key\n"},
	{"link-secret", fs.ModeSymlink, "secret"},
	{"link-abs", fs.ModeSymlink, "/etc/grouponly"},
	{"passwd", 0o644, "host:x:0:0:host passwd:/:/bin/sh\n"},
	{"group", 0o644, "hostgroup:x:0:\n"},
	{"hostname", 0o644, "hosthost\n"},
	{"hosts", 0o644, "192.0.2.9\thosthost\n"},
	{"machine-id", 0o444, "0123456789abcdef0123456789abcdef\n"},
	{"resolv.conf", fs.ModeSymlink, "../run/resolv.conf"}, // out of the sandbox's view
	{"os-release", fs.ModeSymlink, "../usr/lib/os-release"},
}

// etcProbe prints, for each path, its content or DENIED, and for each
// directory its listing or DENIED.
const etcProbe = `
for p in public.conf sub/ok sub/deep/ok ssh/ssh_config resolv.conf passwd group hostname hosts machine-id \
	secret grouponly privdir/key searchonly/file sub/deep/secret shadow ssh/ssh_host_ed25519_key link-secret link-abs; do
	if c=$(cat /etc/$p 2>/dev/null); then printf '%s: %s\n' $p "$c"; else echo "$p: DENIED"; fi
done
for d in privdir searchonly; do
	if l=$(ls -A /etc/$d 2>/dev/null); then echo "ls $d:" $l; else echo "ls $d: DENIED"; fi
done
`

// checkEtc judges etcProbe's output in a sandbox showing etcFixture.
func checkEtc(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, "SECRET") || !regexp.MustCompile(`(?m)^ls privdir:( DENIED| mine)?\nls searchonly:( DENIED)?$`).MatchString(out) {
		t.Errorf("a secret of the host's /etc is readable or listed:\n%s", out)
	}
	for _, want := range []string{
		"public.conf: public\n", "sub/ok: deep ok\n", "sub/deep/ok: deeper ok\n", "ssh/ssh_config: ssh config\n",
		"resolv.conf: nameserver 192.0.2.53\n",
		"passwd: root:x:0:0:root:/work:/bin/sh\n", "group: root:x:0:\n", "hostname: corral\n", "hosts: 127.0.0.1\tlocalhost corral\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^machine-id: [0-9a-f]{32}$`).MatchString(out) || strings.Contains(out, "0123456789abcdef0123") {
		t.Errorf("machine-id is not a new one:\n%s", out)
	}
	if strings.Contains(out, "hosthost") || strings.Contains(out, "host passwd") || strings.Contains(out, "hostgroup") {
		t.Errorf("a generated file shows the host's:\n%s", out)
	}
}

// TestEtcFixture builds a fake host /etc with secrets of every kind and
// checks what the sandbox shows of it: the whole /etc bound, and the
// layout a mount at a path the host's /etc lacks needs.
func TestEtcFixture(t *testing.T) {
	etc := fakeEtc(t, etcFixture)
	if err := os.WriteFile(filepath.Join(etc, "../run/resolv.conf"), []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The control: the host's caller can read every secret of the fixture
	// (it owns them), so only the sandbox's masks hide them.
	for _, e := range etcFixture {
		if strings.HasPrefix(e.data, "SECRET") {
			if b, err := os.ReadFile(filepath.Join(etc, e.path)); err != nil || !strings.HasPrefix(string(b), "SECRET") {
				t.Fatalf("the fixture's %s is not readable on the host: %v", e.path, err)
			}
		}
	}
	mine := filepath.Join(t.TempDir(), "mine")
	if err := os.WriteFile(mine, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("whole", func(t *testing.T) {
		checkEtc(t, sh(t, sandbox.Options{}, etcProbe))
		// os-release leads into /usr, which the sandbox shows.
		if host, err := os.ReadFile("/usr/lib/os-release"); err == nil {
			if got := sh(t, sandbox.Options{}, "cat /etc/os-release"); got != string(host) {
				t.Errorf("/etc/os-release: %q, want the host's /usr/lib/os-release", got)
			}
		}
	})
	t.Run("mount-at-new-path", func(t *testing.T) {
		// The host's /etc lacks myapp.conf: /etc is then built entry by entry.
		opts := sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(mine, "/etc/myapp.conf")}}
		out := sh(t, opts, etcProbe+"cat /etc/myapp.conf")
		checkEtc(t, out)
		if !strings.HasSuffix(out, "\nmine\n") {
			t.Errorf("the mount at /etc/myapp.conf:\n%s", out)
		}
	})
	t.Run("mount-deep-and-under-secret", func(t *testing.T) {
		opts := sandbox.Options{Mounts: []sandbox.Mount{
			sandbox.Tmpfs("/etc/sub/deep/new", 0),
			sandbox.Bind(mine, "/etc/privdir/mine"),
		}}
		out := sh(t, opts, etcProbe+"echo w > /etc/sub/deep/new/w && cat /etc/sub/deep/new/w /etc/privdir/mine")
		checkEtc(t, out)
		if !strings.HasSuffix(out, "\nw\nmine\n") {
			t.Errorf("the mounts beneath /etc:\n%s", out)
		}
	})
	t.Run("mount-over-entries", func(t *testing.T) {
		// Over a host file, over a secret, over a generated file, and over
		// a symlink (the link itself, not /usr/bin/true it leads to).
		fakeLink := filepath.Join(etc, "tool")
		if err := os.Symlink("/usr/bin/true", fakeLink); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(fakeLink)
		opts := sandbox.Options{Mounts: []sandbox.Mount{
			sandbox.Bind(mine, "/etc/public.conf"), sandbox.Bind(mine, "/etc/secret"),
			sandbox.Bind(mine, "/etc/hostname"), sandbox.Bind(mine, "/etc/tool"),
		}}
		out := sh(t, opts, "cat /etc/public.conf /etc/secret /etc/hostname /etc/tool && /usr/bin/true && echo true-runs")
		if out != "mine\nmine\nmine\nmine\ntrue-runs\n" {
			t.Errorf("mounts over /etc entries: %q", out)
		}
	})
}

// TestEtcSecretCreatedLater: a secret named in the always-hidden list that
// appears in the host's /etc after New is hidden in the sandboxes built
// later too (the masks by permission are found at New; see etc.go).
func TestEtcSecretCreatedLater(t *testing.T) {
	requireSandbox(t)
	etc := fakeEtc(t, []etcEntry{{"public.conf", 0o644, "public\n"},
		{"passwd", 0o644, ""}, {"group", 0o644, ""}, {"hostname", 0o644, ""}, {"hosts", 0o644, ""}})
	sb := sandbox.New(sandbox.Options{})
	defer sb.Close()
	if err := os.WriteFile(filepath.Join(etc, "gshadow"), []byte("SECRET-late\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	c := sandbox.Command("/bin/sh", "-c", "cat /etc/public.conf; cat /etc/gshadow 2>/dev/null || echo DENIED")
	c.Stdout = &out
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := sb.RunContext(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.Wait(); err != nil || !res.Success() {
		t.Fatalf("%v %v", res, err)
	}
	if out.String() != "public\nDENIED\n" {
		t.Errorf("got %q, want the late gshadow hidden", out.String())
	}
}

// TestEtcHost judges the sandbox against the host's real /etc: every
// entry an unprivileged user could not read stays unreadable (whoever the
// caller is: for root the host itself would allow it), and a world-
// readable file the old minimal /etc lacked is there, with the host's
// content.
func TestEtcHost(t *testing.T) {
	var secrets, dirs []string
	readable := 0
	filepath.WalkDir("/etc", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		perm := info.Mode().Perm()
		switch {
		case d.IsDir() && perm&0o005 != 0o005:
			dirs = append(dirs, p)
		case d.IsDir():
			return nil
		case perm&0o004 == 0:
			secrets = append(secrets, p)
		default:
			return nil
		}
		if f, err := os.Open(p); err == nil { // the caller's own access on the host
			readable++
			f.Close()
		}
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	for _, p := range []string{"/etc/shadow", "/etc/gshadow", "/etc/ssl/private"} {
		if _, err := os.Lstat(p); err == nil && !slices.Contains(secrets, p) && !slices.Contains(dirs, p) {
			secrets = append(secrets, p) // world-readable here, hidden by name
		}
	}
	if len(secrets)+len(dirs) == 0 {
		t.Log("the host's /etc has no entry an unprivileged user could not read")
	}
	t.Logf("host /etc: %d files and %d directories hidden from unprivileged users, %d of them readable by this caller on the host",
		len(secrets), len(dirs), readable)
	// The control: a world-readable file the old /etc did not show.
	control := ""
	for _, p := range []string{"/etc/debian_version", "/etc/host.conf", "/etc/issue", "/etc/os-release"} {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			control = p
			break
		}
	}
	script := `for f in "$@"; do if head -c 1 "$f" >/dev/null 2>&1; then echo "READ $f"; fi; done
for d in $DIRS; do if [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo "LISTED $d"; fi; done`
	c := sandbox.Command("/bin/sh", append([]string{"-c", script, "sh"}, secrets...)...)
	c.Env = []string{"DIRS=" + strings.Join(dirs, " ")}
	out, errs, res := run(t, sandbox.Options{}, c)
	if !res.Success() || out != "" {
		t.Errorf("host secrets readable in the sandbox (%v, stderr %q):\n%s", res, errs, out)
	}
	if control == "" {
		t.Skip("the host's /etc has none of the control files")
	}
	want, _ := os.ReadFile(control)
	if got := sh(t, sandbox.Options{}, "cat "+control); got != string(want) {
		t.Errorf("%s: %q in the sandbox, %q on the host", control, got, want)
	}
}
