package sandbox_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"

	"github.com/corral-dev/corral/sandbox"
)

// A code runner: the sources go in as a tar stream, the command builds
// its output in /work, and the output comes back as a tar stream.
func ExampleCmd_copyInOut() {
	var src bytes.Buffer
	tw := tar.NewWriter(&src)
	prog := "echo compiled >out/a.out\n"
	tw.WriteHeader(&tar.Header{Name: "build.sh", Mode: 0o644, Size: int64(len(prog))})
	tw.Write([]byte(prog))
	tw.Close()

	var out bytes.Buffer
	p, err := sandbox.New(sandbox.Options{}).Run(&sandbox.Cmd{
		Path: "/bin/sh", Args: []string{"sh", "-c", "mkdir out && sh build.sh"},
		CopyIn:  &src,
		CopyOut: []string{"out"}, CopyOutTo: &out,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := p.Wait(); err != nil {
		fmt.Println(err)
		return
	}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		body, _ := io.ReadAll(tr)
		fmt.Printf("%s %q\n", h.Name, body)
	}
	// Output:
	// out/ ""
	// out/a.out "compiled\n"
}
