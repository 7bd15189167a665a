package sandbox_test

// A fake sandbox.ImageSource over a directory tree the test builds from
// the host's static busybox, so that package sandbox's image tests need
// no store and no registry.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// fakeImages serves one image directory, counting opens and closes.
type fakeImages struct {
	dir string
	cfg sandbox.ImageConfig
	err error // returned by every OpenImage, when set

	min int // the fewest roots the test opens: checked, with the closes, when it ends

	mu     sync.Mutex
	refs   []string // the refs opened
	opens  int
	closes int
}

func (f *fakeImages) OpenImage(ctx context.Context, ref string) (*sandbox.ImageRoot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs = append(f.refs, ref)
	if f.err != nil {
		return nil, f.err
	}
	f.opens++
	var once sync.Once
	return &sandbox.ImageRoot{Dir: f.dir, Digest: "sha256:fake", Config: f.cfg, Close: func() error {
		closed := false
		once.Do(func() { closed = true })
		f.mu.Lock()
		defer f.mu.Unlock()
		f.closes++
		if !closed {
			return fmt.Errorf("ImageRoot.Close called again (%d closes)", f.closes)
		}
		return nil
	}}, nil
}

// counts returns how many roots were opened and how many closed.
func (f *fakeImages) counts() (opens, closes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens, f.closes
}

// checkClosed fails t unless every root opened was closed exactly once,
// and at least min were opened. newImages calls it when the test ends, after
// the sandboxes newSandbox made are closed.
func (f *fakeImages) checkClosed(t *testing.T, min int) {
	t.Helper()
	opens, closes := f.counts()
	if opens < min || closes != opens {
		t.Errorf("image roots: %d opened (want at least %d), %d closed (want %d)", opens, min, closes, opens)
	}
}

// busyboxApplets are the programs the fake image has, as links to busybox.
var busyboxApplets = []string{"sh", "ls", "cat", "id", "env", "touch", "mkdir", "echo", "pwd", "rm",
	"stat", "grep", "head", "sleep", "hostname", "true", "false", "test", "wc", "dd", "awk", "chmod"}

// imageDir builds an image root in a new directory: /bin/busybox (the
// host's static one) and its applets, an /etc/passwd with a user "app"
// whose home is /home/app, a /data with a file and a read-only directory,
// and no /work, /tmp, /proc, /dev or /sys: the sandbox must make its
// mountpoints without writing them into the image.
func imageDir(t *testing.T) string {
	t.Helper()
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v (apt-get install busybox-static; .ci/deps.sh does)", bb, err)
		}
		t.Skipf("%s: %v (apt-get install busybox-static)", bb, err)
	}
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc", "home/app", "data/ro"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	in, err := os.Open(bb)
	must(err)
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(dir, "bin/busybox"), os.O_CREATE|os.O_WRONLY, 0o755)
	must(err)
	_, err = io.Copy(out, in)
	must(err)
	must(out.Close())
	for _, a := range busyboxApplets {
		must(os.Symlink("busybox", filepath.Join(dir, "bin", a)))
	}
	must(os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "data/hello"), []byte("hello from the image\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "home/app/.profile"), []byte("PS1='$ '\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "data/ro/kept"), []byte("kept\n"), 0o444))
	must(os.Chmod(filepath.Join(dir, "data/ro"), 0o555))
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "data/ro"), 0o755) })
	return dir
}

// newImages returns a fake source over a new image directory (which each
// of prepare may add to first). When the test ends, it checks that the
// directory is unchanged and that every root opened was closed.
func newImages(t *testing.T, cfg sandbox.ImageConfig, prepare ...func(dir string) error) *fakeImages {
	t.Helper()
	f := &fakeImages{dir: imageDir(t), cfg: cfg}
	for _, p := range prepare {
		if err := p(f.dir); err != nil {
			t.Fatal(err)
		}
	}
	before := testutil.TreeHash(t, f.dir)
	t.Cleanup(func() {
		f.checkClosed(t, f.min)
		if after := testutil.TreeHash(t, f.dir); after != before {
			t.Errorf("the image directory changed: tree hash %s, was %s", after, before)
		}
	})
	return f
}

// imageOptions are Options running the fake image.
func imageOptions(f *fakeImages) sandbox.Options {
	return sandbox.Options{Image: "fake/busybox:latest", Images: f}
}

// bothRoots runs test once with the root the host gives (an overlay where
// Check says overlayfs works in a user namespace, else a copy) and once
// with the copy forced.
func bothRoots(t *testing.T, test func(t *testing.T, wantFS string)) {
	t.Run("host", func(t *testing.T) {
		test(t, hostImageFS(t))
	})
	t.Run("copy", func(t *testing.T) {
		defer sandbox.SetImageCopy(sandbox.SetImageCopy(true))
		test(t, "tmpfs")
	})
}

// hostImageFS is the file system type an image root has on this host:
// overlay where Check says so, else tmpfs (the copy).
func hostImageFS(t *testing.T) string {
	requireSandbox(t)
	f, ok := sandbox.Check().Feature("overlay")
	if !ok {
		t.Fatal(`Check has no "overlay" entry`)
	}
	t.Logf("overlay: available %v: %s", f.Available, f.Detail)
	if f.Available {
		return "overlay"
	}
	return "tmpfs"
}
