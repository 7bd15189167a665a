package image_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/corral-dev/corral/sandbox/image"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// A store serves images to sandboxes: pass it as Options.Images, with
// the reference as Options.Image. Here the image is a docker save
// archive; a registry reference ("busybox:1.36") works the same way.
func ExampleStore() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	img, _ := random.Image(1024, 2) // two layers of random files
	archive := filepath.Join(dir, "app.tar")
	if err := tarball.WriteToFile(archive, name.MustParseReference("app:1"), img); err != nil {
		log.Fatal(err)
	}

	store, err := image.Open(image.Options{Dir: filepath.Join(dir, "cache"), MaxBytes: 1 << 30})
	if err != nil {
		log.Fatal(err)
	}
	root, err := store.OpenImage(context.Background(), archive)
	if err != nil {
		log.Fatal(err)
	}
	// sandbox.New(sandbox.Options{Image: archive, Images: store}) does
	// this itself, and closes the root when the sandbox goes.
	id, _ := img.ConfigName()
	fmt.Println("image ID matches:", root.Digest == id.String())
	ents, _ := os.ReadDir(root.Dir)
	fmt.Println("files in its root:", len(ents) > 0)
	root.Close()

	images, _ := store.List()
	fmt.Println("cached:", len(images), images[0].Refs[0] == "docker-archive:"+archive)
	rep, _ := store.Prune(true)
	fmt.Println("pruned:", len(rep.Removed))
	// Output:
	// image ID matches: true
	// files in its root: true
	// cached: 1 true
	// pruned: 1
}
