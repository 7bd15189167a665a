package image_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/corral-dev/corral/internal/imagetest"
	"github.com/corral-dev/corral/sandbox/image"
)

// TestCachePrivate: the cache is the caller's alone (0700), made so if it
// was not; one that belongs to another user is refused.
func TestCachePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, image.Options{Dir: dir})
	if _, err := s.List(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("the cache's mode is %v, want 0700", fi.Mode().Perm())
	}
	if os.Getuid() != 0 {
		t.Log("not root: cannot make a directory another user owns; the refusal is checked as root")
		return
	}
	other := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	st, err := image.Open(image.Options{Dir: other})
	if err == nil {
		_, err = st.List()
	}
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") || !strings.Contains(err.Error(), "Options.Dir") {
		t.Fatalf("a cache of uid 65534's: %v; want a refusal naming the owner and Options.Dir", err)
	}
}

// TestForeignArchitecture: an image for another architecture is refused
// with ErrUnsupported, naming both; the control is the host's.
func TestForeignArchitecture(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	reg := imagetest.NewRegistry(t)
	layer := imagetest.Layer(t, imagetest.File{Name: "a", Body: "a"})
	reg.Push(t, "arch:1", imagetest.PlatformImage(t, v1.Platform{OS: "linux", Architecture: other}, v1.Config{}, layer))
	s := newStore(t, image.Options{})
	_, err := s.Pull(bg, reg.Ref("arch:1"))
	expectErr(t, err, image.ErrUnsupported, "linux/"+other, "linux/"+runtime.GOARCH)
	expectEmpty(t, s)
	reg.Push(t, "arch:1", imagetest.Image(t, v1.Config{}, layer))
	if _, err := s.Pull(bg, reg.Ref("arch:1")); err != nil {
		t.Fatalf("the host's architecture: %v", err)
	}
}
