package image

// SKELETON: keeps go-containerregistry in go.mod until the store helper
// uses it.
import (
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
)
