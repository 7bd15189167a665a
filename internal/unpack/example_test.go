package unpack_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/corral-dev/corral/internal/unpack"
)

// layer returns a tar stream of regular files (name, content pairs).
func layer(files ...string) *bytes.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1]))})
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	return bytes.NewReader(buf.Bytes())
}

// Two layers applied bottom-up: the second removes a file of the first
// with a whiteout. A third that tries to write outside is refused.
func ExampleApply() {
	dir, err := os.MkdirTemp("", "example-root")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unpack.RemoveAll(dir)

	for _, l := range []*bytes.Reader{
		layer("etc/motd", "hello\n", "etc/old", "gone soon\n"),
		layer("etc/.wh.old", "", "etc/new", "added\n"),
	} {
		if _, err := unpack.Apply(dir, l, unpack.Options{MaxBytes: 1 << 20}); err != nil {
			fmt.Println(err)
			return
		}
	}
	names, _ := filepath.Glob(filepath.Join(dir, "etc", "*"))
	for _, name := range names {
		fmt.Println(filepath.Base(name))
	}

	_, err = unpack.Apply(dir, layer("../../etc/passwd", "x"), unpack.Options{})
	fmt.Println(errors.Is(err, unpack.ErrUnsafe))
	fmt.Println(err)
	// Output:
	// motd
	// new
	// true
	// unpack: layer entry "../../etc/passwd": its name climbs out of the root with "..": unsafe layer entry refused
}
