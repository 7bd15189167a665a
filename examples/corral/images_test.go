package main

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/imagetest"
	"github.com/corral-dev/corral/internal/testutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// cli calls one of corral's command functions with buffers.
func cli(f func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := f(args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func pullCmd(args []string, o, e *bytes.Buffer) int   { return pull(args, o, e) }
func imagesCmd(args []string, o, e *bytes.Buffer) int { return images(args, o, e) }

// testRegistry starts a registry holding app:1 (two layers) and points
// the image cache ($CORRAL_IMAGES) at a fresh directory.
func testRegistry(t *testing.T) *imagetest.Registry {
	t.Setenv("CORRAL_IMAGES", t.TempDir())
	reg := imagetest.NewRegistry(t)
	reg.Push(t, "app:1", imagetest.Image(t, v1.Config{Cmd: []string{"/bin/sh"}},
		imagetest.Layer(t, imagetest.Dir("etc"), imagetest.File{Name: "etc/os-release", Body: "ID=test\n"}),
		imagetest.Layer(t, imagetest.File{Name: "data", Body: strings.Repeat("corral ", 20000)})))
	return reg
}

var digestLine = regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`)

func TestPullImagesRm(t *testing.T) {
	reg := testRegistry(t)
	ref := reg.Ref("app:1")

	r := cli(pullCmd, ref)
	if r.code != 0 || !digestLine.MatchString(r.stdout) || r.stderr != "" {
		t.Fatalf("corral pull %s: exit %d, stdout %q, stderr %q; want 0, the digest, nothing (not a terminal: quiet)", ref, r.code, r.stdout, r.stderr)
	}
	digest := strings.TrimSpace(r.stdout)

	r = cli(imagesCmd)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("corral images: exit %d, stdout %q; want a header and one row", r.code, r.stdout)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "REF DIGEST SIZE LAST USED" {
		t.Errorf("header %q", lines[0])
	}
	row := strings.Fields(lines[1])
	if len(row) < 4 || row[0] != ref || row[1] != digest[7:19] || !strings.HasSuffix(row[2], "kB") || row[3] != "just" {
		t.Errorf("row %q; want %s %s <size>kB just now", lines[1], ref, digest[7:19])
	}

	r = cli(imagesCmd, "rm", ref)
	if r.code != 0 || !strings.Contains(r.stdout, "removed "+ref) {
		t.Fatalf("corral images rm: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if r = cli(imagesCmd, "ls"); strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("corral images after rm: %q; want the header alone", r.stdout)
	}
	cli(imagesCmd, "rm", ref).expect(t, 1, "not found", ref)
}

func TestImagesPrune(t *testing.T) {
	reg := testRegistry(t)
	if r := cli(pullCmd, "-q", reg.Ref("app:1")); r.code != 0 {
		t.Fatalf("pull: %q", r.stderr)
	}
	r := cli(imagesCmd, "prune") // the image has a name: kept
	if r.code != 0 || strings.Contains(r.stdout, "removed") || !strings.Contains(r.stdout, "freed 0B") {
		t.Errorf("prune: exit %d, %q; want nothing removed", r.code, r.stdout)
	}
	r = cli(imagesCmd, "prune", "--all")
	if r.code != 0 || strings.Count(r.stdout, "removed") != 1 || !strings.Contains(r.stdout, "kB") {
		t.Errorf("prune --all: exit %d, %q; want one image removed", r.code, r.stdout)
	}
	if r = cli(imagesCmd); strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("corral images after prune --all: %q", r.stdout)
	}
}

func TestImagesErrors(t *testing.T) {
	reg := testRegistry(t)
	cli(pullCmd).expect(t, exitSetup, "usage")
	cli(pullCmd, reg.Ref("nothing:1")).expect(t, 1, "not found", "nothing:1")
	cli(pullCmd, "Bad Ref!").expect(t, 1, "Bad Ref!")
	cli(imagesCmd, "bogus").expect(t, exitSetup, "bogus", "usage")
	cli(imagesCmd, "rm").expect(t, exitSetup, "usage")
	cli(imagesCmd, "prune", "--bogus").expect(t, exitSetup, "bogus")
	t.Setenv("CORRAL_IMAGES_MAX", "lots")
	cli(imagesCmd).expect(t, exitSetup, "CORRAL_IMAGES_MAX")
}

func TestPullProgressBar(t *testing.T) {
	reg := testRegistry(t)
	ptm, pts := testutil.OpenPTY(t)
	var mu sync.Mutex
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			mu.Lock()
			out.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	var stdout bytes.Buffer
	if code := pull([]string{reg.Ref("app:1")}, &stdout, pts); code != 0 || !digestLine.MatchString(stdout.String()) {
		t.Fatalf("pull on a terminal: exit %d, stdout %q", code, stdout.String())
	}
	want := reg.Ref("app:1") + ": layer "
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := out.String()
		mu.Unlock()
		if strings.Contains(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the terminal shows %q; want a progress bar naming %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pts.Close() // the reader then gets EIO
	<-done
}

func TestHumanSizeAgo(t *testing.T) {
	sizes := []struct {
		n    int64
		want string
	}{{0, "0B"}, {999, "999B"}, {1000, "1kB"}, {123456, "123kB"}, {5_500_000, "5.5MB"}, {20 << 30, "21.5GB"}}
	for _, tt := range sizes {
		if got := humanSize(tt.n); got != tt.want {
			t.Errorf("humanSize(%d) = %q; want %q", tt.n, got, tt.want)
		}
	}
	agos := []struct {
		d    time.Duration
		want string
	}{{0, "just now"}, {time.Minute, "1 minute ago"}, {5 * time.Minute, "5 minutes ago"},
		{3 * time.Hour, "3 hours ago"}, {72 * time.Hour, "3 days ago"}}
	for _, tt := range agos {
		if got := ago(tt.d); got != tt.want {
			t.Errorf("ago(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
}
