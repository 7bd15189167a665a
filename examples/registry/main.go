// Command registry serves a container registry on loopback for trying
// Corral's images without Docker or a network: go-containerregistry's
// registry (pkg/registry), in memory, with a small multi-layer demo image
// pushed to it, built from the host's static busybox.
//
//	go run ./examples/registry &          # 127.0.0.1:5000, demo/hello:latest
//	corral run --image localhost:5000/demo/hello
//	corral run --image localhost:5000/demo/hello -- sh -c 'ls /; cat /etc/motd'
//
// The demo image has three layers: busybox and its applets; files (a
// message of the day, a greeting script set as the entrypoint); and a
// layer that deletes a file and replaces a directory's contents (a
// whiteout and an opaque directory), as docker build layers do.
// It serves until interrupted.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "`ADDRESS` to listen on (keep it on loopback)")
	busybox := flag.String("busybox", "/bin/busybox", "a statically linked busybox for the demo image (apt-get install busybox-static)")
	flag.Parse()
	if err := serve(*addr, *busybox); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func serve(addr, busybox string) error {
	img, err := demoImage(busybox)
	if err != nil {
		return fmt.Errorf("building the demo image: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ref := "localhost:" + portOf(ln.Addr()) + "/demo/hello:latest"
	r, err := name.ParseReference(ref)
	if err == nil {
		err = remote.Write(r, img)
	}
	if err != nil {
		srv.Close()
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, _ := img.Digest()
	fmt.Printf("registry: serving %s; pushed %s (%s)\n", ln.Addr(), ref, d)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := srv.Shutdown(context.Background()); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// entry is a file of a demo layer: a directory (name ends in /), a
// symlink (link set) or a regular file.
type entry struct {
	name string
	mode int64
	data string
	link string
}

var applets = []string{"sh", "ls", "cat", "echo", "env", "id", "pwd", "touch", "rm", "mkdir", "true", "false", "uname", "hostname", "wc", "grep", "sleep"}

// demoImage builds the three-layer demo image.
func demoImage(busybox string) (v1.Image, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	base := []entry{{name: "bin/", mode: 0o755}, {name: "bin/busybox", mode: 0o755, data: string(bb)},
		{name: "etc/", mode: 0o755}, {name: "tmp/", mode: 0o1777}, {name: "root/", mode: 0o700},
		{name: "etc/passwd", mode: 0o644, data: "root:x:0:0:root:/root:/bin/sh\n"},
		{name: "etc/group", mode: 0o644, data: "root:x:0:\n"}}
	for _, a := range applets {
		base = append(base, entry{name: "bin/" + a, link: "busybox"})
	}
	files := []entry{{name: "etc/motd", mode: 0o644, data: "Hello from a Corral image: three layers, unpacked rootless.\n"},
		{name: "usr/", mode: 0o755}, {name: "usr/local/", mode: 0o755}, {name: "usr/local/bin/", mode: 0o755},
		{name: "usr/local/bin/hello", mode: 0o755, data: "#!/bin/sh\ncat /etc/motd\necho \"I am $(id -un) in $(pwd), on $(hostname); args: $*\"\n"},
		{name: "opt/", mode: 0o755}, {name: "opt/old/", mode: 0o755}, {name: "opt/old/a", mode: 0o644, data: "from layer 2\n"},
		{name: "etc/removed", mode: 0o644, data: "layer 3 deletes this file\n"}}
	changes := []entry{{name: "etc/.wh.removed"}, {name: "opt/old/", mode: 0o755}, {name: "opt/old/.wh..wh..opq"},
		{name: "opt/old/b", mode: 0o644, data: "from layer 3 (an opaque directory hides layer 2's a)\n"}}
	img := empty.Image
	for _, l := range [][]entry{base, files, changes} {
		b, err := tarOf(l)
		if err != nil {
			return nil, err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/usr/local/bin/hello"}
	cf.Config.Cmd = []string{"world"}
	cf.Config.Env = []string{"PATH=/usr/local/bin:/bin", "GREETING=hello"}
	cf.Config.WorkingDir = "/root"
	return mutate.ConfigFile(img, cf)
}

func tarOf(es []entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mt, Format: tar.FormatPAX}
		switch {
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag = tar.TypeDir
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, e.data); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), tw.Close()
}
