package sandbox_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// rootFSType prints the file system type of the sandbox's root.
const rootFSType = `awk '$5=="/" {for (i = 7; i <= NF; i++) if ($i == "-") print $(i+1)}' /proc/self/mountinfo`

// TestImageConfig: the image's entrypoint, cmd, env, working directory and
// user apply as Cmd's documentation says, and Cmd overrides them.
func TestImageConfig(t *testing.T) {
	requireSandbox(t)
	cfg := sandbox.ImageConfig{
		Entrypoint: []string{"/bin/echo", "ep"},
		Cmd:        []string{"c1", "c2"},
		Env:        []string{"PATH=/bin", "FOO=image", "BAR=image"},
		WorkingDir: "/data",
		User:       "app",
	}
	images := newImages(t, cfg)
	show := `echo "$FOO $BAR|$PATH|$(pwd)|$HOME $USER $LOGNAME"`
	for _, tc := range []struct {
		name string
		cmd  *sandbox.Cmd
		want string
	}{
		{"entrypoint and cmd", &sandbox.Cmd{}, "ep c1 c2"},
		{"args replace cmd", &sandbox.Cmd{Args: []string{"a1", "a2"}}, "ep a1 a2"},
		{"path replaces the entrypoint", &sandbox.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", show}},
			"image image|/bin|/data|/home/app app app"},
		{"a name is looked up in the image's PATH", &sandbox.Cmd{Path: "sh", Args: []string{"sh", "-c", "echo found"}}, "found"},
		{"cmd env and dir override", &sandbox.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", show},
			Env: []string{"BAR=cmd", "HOME=/tmp"}, Dir: "/tmp"},
			"image cmd|/bin|/tmp|/tmp app app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, res := run(t, imageOptions(images), tc.cmd)
			if !res.Success() || strings.TrimSpace(out) != tc.want {
				t.Errorf("%v: output %q, want %q (stderr %q)", res, out, tc.want, errs)
			}
		})
	}

	// Without a user the defaults stand; without a working dir, /work.
	plain := newImages(t, sandbox.ImageConfig{Cmd: []string{"/bin/sh", "-c", show}})
	out, errs, res := run(t, imageOptions(plain), &sandbox.Cmd{})
	if want := " |/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/work|/work root root\n"; !res.Success() || out != want {
		t.Errorf("%v: output %q, want %q (stderr %q)", res, out, want, errs)
	}
	images.min = 5
	plain.min = 1
}

// TestImageNoProgram: an image with no entrypoint and no cmd, and a Cmd
// with no Path, fail with an *OptionError naming Cmd.Path; the same image
// runs a Cmd that names one (the control).
func TestImageNoProgram(t *testing.T) {
	requireSandbox(t)
	images := newImages(t, sandbox.ImageConfig{})
	sb := newSandbox(t, imageOptions(images))
	_, err := sb.Run(&sandbox.Cmd{})
	var oe *sandbox.OptionError
	if !errors.As(err, &oe) || oe.Field != "Cmd.Path" {
		t.Fatalf("Run with no program: %v, want an *OptionError for Cmd.Path", err)
	}
	out, _, res := run(t, imageOptions(images), sandbox.Command("/bin/echo", "ok"))
	if !res.Success() || out != "ok\n" {
		t.Errorf("control: %v, %q", res, out)
	}
	sb.Close()
	images.min = 2
}

// TestImageWritesDiscarded: the root is writable, writes go to the
// overlay (or the copy), the image directory is never written, and the
// next sandbox sees none of the last one's writes. The sandbox's /etc
// hostname and hosts are in the root. A directory of the image that holds
// a file can be removed and made again, except in an overlay without
// extended attributes (Check says when). Run with the host's root and with
// the copy.
func TestImageWritesDiscarded(t *testing.T) {
	bothRoots(t, func(t *testing.T, wantFS string) {
		remade := "remade /home/app"
		if f, _ := sandbox.Check().Feature("overlay"); wantFS == "overlay" && strings.Contains(f.Detail, "no extended attributes") {
			remade = "cannot remake /home/app"
		}
		images := newImages(t, sandbox.ImageConfig{Env: []string{"PATH=/bin"}})
		opts := imageOptions(images)
		opts.Hostname = "imagebox"
		script := `set -e
			test ! -e /left
			` + rootFSType + `
			cat /data/hello /etc/hostname
			grep -c imagebox /etc/hosts
			echo x >/left; mkdir -p /new/dir; echo changed >/data/hello; chmod u+w /data/ro; rm /data/ro/kept
			(rm -r /home/app && mkdir /home/app) 2>/dev/null && echo "remade /home/app" || echo "cannot remake /home/app"
			touch /bin/busybox; cat /data/hello; ls /data/ro | wc -l
			touch /dev/x 2>/dev/null && echo "wrote /dev/x" || echo "/dev is read-only"`
		for i := range 2 {
			out := sh(t, opts, script)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 8 || lines[0] != wantFS || lines[1] != "hello from the image" || lines[2] != "imagebox" ||
				lines[3] != "1" || lines[4] != remade || lines[5] != "changed" || lines[6] != "0" || lines[7] != "/dev is read-only" {
				t.Errorf("run %d: output %q, want the root's type %s, the image's file, the host name, then the writes", i, out, wantFS)
			}
		}
		images.min = 2
	})
}

// TestImageReuse: a reused sandbox's root is read-only (a write to / is
// refused, the control a write to /tmp succeeds), and the next run sees
// nothing of the last.
func TestImageReuse(t *testing.T) {
	bothRoots(t, func(t *testing.T, wantFS string) {
		images := newImages(t, sandbox.ImageConfig{Env: []string{"PATH=/bin"}})
		opts := imageOptions(images)
		opts.Pool, opts.Reuse = 1, true
		sb := sandbox.New(opts)
		script := rootFSType + `
			test -e /tmp/left && echo "/tmp/left is back"
			echo x >/tmp/left && echo tmp ok
			(echo x >/left) 2>/dev/null || echo "/ refused"
			mkdir /data/new 2>/dev/null || echo "/data refused"
			echo $HOME`
		for i := range 3 {
			out, res := reuseRun(t, sb, sandbox.Command("/bin/sh", "-c", script))
			if want := wantFS + "\ntmp ok\n/ refused\n/data refused\n/work\n"; !res.Success() || out != want {
				t.Errorf("run %d: %v: output %q, want %q", i, res, out, want)
			}
		}
		if err := sb.Close(); err != nil {
			t.Error(err)
		}
		images.checkClosed(t, 1)
	})
}

// TestImagePool: pooled sandboxes each open the image, and every root
// opened is closed once the pool is.
func TestImagePool(t *testing.T) {
	requireSandbox(t)
	images := newImages(t, sandbox.ImageConfig{Entrypoint: []string{"/bin/sh", "-c"}})
	opts := imageOptions(images)
	opts.Pool = 2
	sb := sandbox.New(opts)
	prewarm(t, sb)
	warm := 0
	for i := range 4 {
		prewarm(t, sb)
		var out strings.Builder
		p, err := sb.Run(&sandbox.Cmd{Args: []string{"test ! -e /left && echo x >/left && echo ok"}, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Wait()
		if err != nil || out.String() != "ok\n" || !res.Success() {
			t.Errorf("run %d: %v %v: %q", i, res, err, out.String())
		}
		if res.Warm {
			warm++
		}
	}
	if warm == 0 {
		t.Error("no run was warm")
	}
	if err := sb.Close(); err != nil {
		t.Error(err)
	}
	images.checkClosed(t, 4)
}

// TestImageBox: a Box runs on the image; its root is closed when it stops.
func TestImageBox(t *testing.T) {
	requireSandbox(t)
	images := newImages(t, sandbox.ImageConfig{Env: []string{"PATH=/bin"}, WorkingDir: "/data"})
	sb := sandbox.New(imageOptions(images))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	box, err := sb.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{"echo one >/left", "cat /left; pwd"} {
		var out strings.Builder
		p, err := box.Exec(&sandbox.Cmd{Path: "sh", Args: []string{"sh", "-c", script}, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := p.Wait(); err != nil || !res.Success() {
			t.Fatalf("%q: %v %v: %s", script, res, err, out.String())
		}
		if script[0] == 'c' && out.String() != "one\n/data\n" {
			t.Errorf("the box's second command: %q", out.String())
		}
	}
	if o, c := images.counts(); o != 1 || c != 0 {
		t.Errorf("while the box runs: %d opened, %d closed; want 1, 0", o, c)
	}
	if err := box.Stop(); err != nil {
		t.Error(err)
	}
	images.checkClosed(t, 1)
}

// errNoSuchImage stands for an ImageSource's own sentinel error.
var errNoSuchImage = errors.New("no such image")

// TestImageErrors: a source's error comes back as a *SetupError with Step
// "image" that unwraps to it; so does a root the source returns that is
// not a directory; and a set-up that fails after the image was opened
// closes it. Each has a control that succeeds.
func TestImageErrors(t *testing.T) {
	requireSandbox(t)
	images := newImages(t, sandbox.ImageConfig{Cmd: []string{"/bin/true"}})
	check := func(name string, opts sandbox.Options, is error) {
		t.Helper()
		_, _, err := runErr(t, opts, &sandbox.Cmd{})
		var se *sandbox.SetupError
		if !errors.As(err, &se) || is != nil && !errors.Is(err, is) {
			t.Errorf("%s: %v, want a *SetupError matching %v", name, err, is)
		}
		t.Logf("%s: %v", name, err)
	}
	images.err = errNoSuchImage
	check("OpenImage fails", imageOptions(images), errNoSuchImage)
	var se *sandbox.SetupError
	if _, _, err := runErr(t, imageOptions(images), &sandbox.Cmd{}); !errors.As(err, &se) || se.Step != "image" || !strings.Contains(se.Path, "fake/busybox") {
		t.Errorf("SetupError %+v, want Step image and the ref", se)
	}
	images.err = nil
	if _, _, err := runErr(t, imageOptions(images), &sandbox.Cmd{}); err != nil {
		t.Errorf("control: %v", err)
	}

	file := &fakeImages{dir: images.dir + "/data/hello"}
	check("Dir is a file", imageOptions(file), nil)
	file.checkClosed(t, 1)

	// Half way: the image is open, the init fails (a bind source removed
	// after New validated it).
	src := t.TempDir() + "/gone"
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := imageOptions(images)
	opts.Mounts = []sandbox.Mount{sandbox.Bind(src, "/gone")}
	sb := sandbox.New(opts)
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	p, err := sb.Run(&sandbox.Cmd{})
	if err == nil {
		_, err = p.Wait()
	}
	if !errors.As(err, &se) || se.Step == "image" {
		t.Errorf("a set-up failing in the init: %v, want a *SetupError of the init", err)
	}
	images.min = 2
}

// runErr runs cmd in a new sandbox made from opts and returns its output
// and the error of Run or Wait.
func runErr(t *testing.T, opts sandbox.Options, cmd *sandbox.Cmd) (string, *sandbox.Result, error) {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := sandbox.New(opts).RunContext(ctx, cmd)
	if err != nil {
		return "", nil, err
	}
	res, err := p.Wait()
	return out.String(), res, err
}

// TestImageOptions: Image with Root, Image without Images and Images
// without Image are refused, naming the field; the control runs.
func TestImageOptions(t *testing.T) {
	images := &fakeImages{dir: "/nonexistent"}
	for _, tc := range []struct {
		name  string
		opts  sandbox.Options
		field string
	}{
		{"image and root", sandbox.Options{Image: "x", Images: images, Root: "/"}, "Options.Image"},
		{"image without images", sandbox.Options{Image: "x"}, "Options.Images"},
		{"images without image", sandbox.Options{Images: images}, "Options.Image"},
	} {
		_, err := sandbox.New(tc.opts).Run(sandbox.Command("/bin/true"))
		var oe *sandbox.OptionError
		if !errors.As(err, &oe) || oe.Field != tc.field {
			t.Errorf("%s: %v, want an *OptionError for %s", tc.name, err, tc.field)
		}
	}
	if o, _ := images.counts(); o != 0 {
		t.Errorf("invalid options opened the image %d times", o)
	}
}
