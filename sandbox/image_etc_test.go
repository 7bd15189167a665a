package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-dev/corral/sandbox"
)

// symlinkedEtc makes the image's /etc/hostname, hosts and resolv.conf
// symlinks: hostname to another file of the image (absolute), resolv.conf
// the way systemd-resolved has it (relative, into /run), and hosts to
// hostFile, a file on the host's side of the root: the sandbox's files
// must replace the links in the writable layer, never follow them.
func symlinkedEtc(hostFile string) func(dir string) error {
	return func(dir string) error {
		stub := filepath.Join(dir, "run/systemd/resolve")
		if err := os.MkdirAll(stub, 0o755); err != nil {
			return err
		}
		for _, f := range []struct{ name, data string }{
			{"run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n"},
			{"etc/hostname.image", "image\n"},
		} {
			if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.data), 0o644); err != nil {
				return err
			}
		}
		for name, target := range map[string]string{
			"hostname":    "/etc/hostname.image",
			"resolv.conf": "../run/systemd/resolve/stub-resolv.conf",
			"hosts":       hostFile,
		} {
			if err := os.Symlink(target, filepath.Join(dir, "etc", name)); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestImageEtcSymlinks: an image whose /etc/hostname, hosts and
// resolv.conf are symlinks starts, with the sandbox's files in their
// place; what the links pointed to is unchanged, in the image and on the
// host, and so is the image directory (newImages checks it). With
// NetworkEgress, resolv.conf names the egress network's DNS server.
// Run with the host's root and with the copy.
func TestImageEtcSymlinks(t *testing.T) {
	bothRoots(t, func(t *testing.T, wantFS string) {
		hostFile := filepath.Join(t.TempDir(), "hosts")
		const hostData = "host's file, not the sandbox's\n"
		if err := os.WriteFile(hostFile, []byte(hostData), 0o644); err != nil {
			t.Fatal(err)
		}
		images := newImages(t, sandbox.ImageConfig{Env: []string{"PATH=/bin"}}, symlinkedEtc(hostFile))
		opts := imageOptions(images)
		opts.Hostname = "linkbox"
		script := `for f in hostname hosts resolv.conf; do test -L /etc/$f && echo "/etc/$f is a link" || echo "/etc/$f is a file"; done
			cat /etc/hostname /etc/hostname.image /run/systemd/resolve/stub-resolv.conf
			grep -c linkbox /etc/hosts`
		out := sh(t, opts, script)
		want := "/etc/hostname is a file\n/etc/hosts is a file\n/etc/resolv.conf is a link\n" +
			"linkbox\nimage\nnameserver 127.0.0.53\n1\n"
		if out != want {
			t.Errorf("output %q, want %q", out, want)
		}
		images.min = 1

		t.Run("egress", func(t *testing.T) {
			requireTun(t)
			opts := egressOpts(t, newFakeEgress())
			opts.Image, opts.Images = "fake/busybox:latest", images
			opts.Mounts = nil
			out := sh(t, opts, `test -L /etc/resolv.conf && echo link; cat /etc/resolv.conf /run/systemd/resolve/stub-resolv.conf`)
			if want := "nameserver 10.0.2.3\n"; !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "nameserver 127.0.0.53\n") {
				t.Errorf("output %q, want resolv.conf a file starting %q, then the image's stub file", out, want)
			}
			images.min = 2
		})
		if b, err := os.ReadFile(hostFile); err != nil || string(b) != hostData {
			t.Errorf("the host file the image's /etc/hosts links to: %q, %v; want %q", b, err, hostData)
		}
	})
}
