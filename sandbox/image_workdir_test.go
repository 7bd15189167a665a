package sandbox_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/corral-dev/corral/sandbox"
)

// TestImageWorkingDir: an image's WorkingDir that the image lacks is made
// in the root before the command starts, as container runtimes do: the
// command starts there, with a read-only root (Reuse) too. It is resolved
// beneath the root: one whose way passes the image's absolute symlink to a
// host directory is not made there (the host directory stays empty); the
// image directory is unchanged (newImages checks it). A Cmd.Dir that is
// missing is not made: its run fails. Run with the host's root and with
// the copy.
func TestImageWorkingDir(t *testing.T) {
	bothRoots(t, func(t *testing.T, wantFS string) {
		hostDir := t.TempDir()
		link := func(dir string) error { return os.Symlink(hostDir, filepath.Join(dir, "hostlink")) }
		images := newImages(t, sandbox.ImageConfig{Env: []string{"PATH=/bin"}, WorkingDir: "/srv/app"}, link)
		pwd := func() *sandbox.Cmd {
			return &sandbox.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "pwd; ls -A | wc -l"}}
		}
		const want = "/srv/app\n0\n"
		out, errs, res := run(t, imageOptions(images), pwd())
		if !res.Success() || out != want {
			t.Errorf("%v: output %q, want %q (stderr %q)", res, out, want, errs)
		}
		opts := imageOptions(images)
		opts.Pool, opts.Reuse = 1, true
		sb := sandbox.New(opts)
		if out, res := reuseRun(t, sb, pwd()); !res.Success() || out != want {
			t.Errorf("reuse: %v: output %q, want %q", res, out, want)
		}
		if err := sb.Close(); err != nil {
			t.Error(err)
		}

		escape := newImages(t, sandbox.ImageConfig{Env: []string{"PATH=/bin"}, WorkingDir: "/hostlink/made"}, link)
		_, res, err := runErr(t, imageOptions(escape), pwd())
		t.Logf("through a link to a host directory: %v, %v", res, err)
		if ents, err := os.ReadDir(hostDir); err != nil || len(ents) != 0 {
			t.Errorf("the host directory the image links to: %v, %v; want it empty", ents, err)
		}

		// A missing Cmd.Dir is not made.
		_, res, err = runErr(t, imageOptions(images), &sandbox.Cmd{Path: "/bin/pwd", Dir: "/srv/other"})
		if err == nil && res.Success() {
			t.Errorf("a missing Cmd.Dir: %v, want a failure", res)
		}
		t.Logf("a missing Cmd.Dir: %v, %v", res, err)
		images.min, escape.min = 3, 1
	})
}
