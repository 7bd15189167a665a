package sandbox_test

import (
	"context"
	"fmt"
	"os"

	"github.com/corral-dev/corral/sandbox"
)

// dirImage is an ImageSource serving one unpacked root, for programs that
// keep their own (package sandbox/image's Store pulls and caches images).
type dirImage struct{ dir string }

func (d dirImage) OpenImage(ctx context.Context, ref string) (*sandbox.ImageRoot, error) {
	return &sandbox.ImageRoot{Dir: d.dir, Config: sandbox.ImageConfig{
		Entrypoint: []string{"/bin/echo"},
		Cmd:        []string{"hello"},
	}}, nil
}

// A sandbox on an image runs its entrypoint and cmd when the Cmd names no
// program, and the entrypoint with the Cmd's Args in place of its cmd.
// The root is writable; the image's directory is never written.
func Example_image() {
	sb := sandbox.New(sandbox.Options{Image: "local/tools", Images: dirImage{"/srv/rootfs"}})
	for _, cmd := range []*sandbox.Cmd{{}, {Args: []string{"from", "args"}}} {
		cmd.Stdout = os.Stdout
		p, err := sb.Run(cmd) // /bin/echo hello, then /bin/echo from args
		if err != nil {
			fmt.Println(err)
			return
		}
		p.Wait()
	}
}
