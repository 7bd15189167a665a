package image_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/corral-dev/corral/internal/imagetest"
	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/image"
)

// TestRunImage is the whole path: a three-layer image (busybox; files;
// a layer that deletes a file and makes a directory opaque) pushed to a
// registry on loopback, pulled by tag and by digest into a store, and run
// in sandboxes, as root and (in the uid-65534 lane) rootless: the image's
// config applies, the layers' whiteouts hold, writes go to the overlay and
// are gone with the sandbox, and the cache is never written.
func TestRunImage(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	reg := imagetest.NewRegistry(t)
	img := imagetest.Image(t, v1.Config{
		Entrypoint: []string{"/bin/sh", "-c"},
		Cmd:        []string{`echo "entry in $(pwd) as $(id -u) with $GREETING"`},
		Env:        []string{"PATH=/bin", "GREETING=hello"},
		WorkingDir: "/app",
	},
		imagetest.Layer(t, imagetest.Busybox(t)...),
		imagetest.Layer(t, imagetest.Dir("app"), imagetest.File{Name: "app/gone", Body: "layer 2"},
			imagetest.Dir("app/old"), imagetest.File{Name: "app/old/a", Body: "layer 2"}),
		imagetest.Layer(t, imagetest.Whiteout("app/gone"), imagetest.Dir("app/old"), imagetest.Opaque("app/old"),
			imagetest.File{Name: "app/old/b", Body: "layer 3"}),
	)
	reg.Push(t, "e2e/run:1", img)
	ref := reg.Ref("e2e/run:1")
	st := newStore(t, image.Options{})

	run := func(ref string, cmd *sandbox.Cmd) string {
		t.Helper()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		p, err := sandbox.New(sandbox.Options{Image: ref, Images: st}).Run(cmd)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		res, err := p.Wait()
		if err != nil || !res.Success() {
			t.Fatalf("%s: %v %v; output %q", ref, res, err, out.String())
		}
		return out.String()
	}

	// By tag, the image's own entrypoint and cmd, in its working dir.
	if got, want := run(ref, &sandbox.Cmd{}), "entry in /app as 0 with hello\n"; got != want {
		t.Errorf("entrypoint + cmd: %q, want %q", got, want)
	}
	before := treeSum(t, st.Dir())

	// By digest: served from the cache (the tag's pull recorded it).
	digestRef := reg.Push(t, "e2e/run:1", img) // the same image: REPO@sha256:...
	if !strings.Contains(digestRef, "@sha256:") {
		t.Fatalf("Push returned %q, not a digest reference", digestRef)
	}
	got := run(digestRef, &sandbox.Cmd{Args: []string{`ls /app /app/old; echo x >/app/new && echo wrote; echo y >/bin/new && echo wrote bin`}})
	for _, want := range []string{"old\n", "b\n", "wrote\n", "wrote bin\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("by digest: %q lacks %q", got, want)
		}
	}
	for _, gone := range []string{"gone", "a\n"} {
		if strings.Contains(got, gone) {
			t.Errorf("by digest: %q shows %q, which layer 3 deleted", got, gone)
		}
	}
	// The control for the writes: a new sandbox does not see them.
	got = run(ref, &sandbox.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "cat /app/new /bin/new 2>/dev/null; echo end"}})
	if got != "end\n" {
		t.Errorf("a later sandbox sees the last one's writes: %q", got)
	}
	if after := treeSum(t, st.Dir()); after != before {
		t.Errorf("the cache changed while sandboxes ran on it (refs and last-use times aside)")
	}
}

// treeSum hashes the unpacked roots under dir (roots/*/rootfs) with
// testutil.TreeHash.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	roots, _ := filepath.Glob(filepath.Join(dir, "roots", "*", "rootfs"))
	if len(roots) == 0 {
		t.Fatalf("no unpacked root under %s", dir)
	}
	var sums []string
	for _, r := range roots {
		sums = append(sums, testutil.TreeHash(t, r))
	}
	return strings.Join(sums, " ")
}
