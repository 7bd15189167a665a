// Package image gives sandboxes container images as their root
// filesystem: it pulls OCI and Docker images from registries, local OCI
// image layouts and docker save archives (with go-containerregistry),
// unpacks them rootless into a content-addressed cache, and serves them to
// package sandbox as an ImageSource:
//
//	store := image.Default()
//	sb := sandbox.New(sandbox.Options{Image: "python:3.12-slim", Images: store})
//
// SKELETON: the coordinator's seam; the store helper fills it in.
package image

import (
	"context"
	"errors"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// Errors the Store's methods wrap; match them with errors.Is.
var (
	ErrNotFound       = errors.New("image: not found")
	ErrDigestMismatch = errors.New("image: digest mismatch")
	ErrUnsupported    = errors.New("image: unsupported")
	ErrCacheFull      = errors.New("image: cache full")
	ErrUnsafeLayer    = errors.New("image: unsafe layer")
	ErrInUse          = errors.New("image: in use")
)

// Options configure a Store. The zero value is the default store.
type Options struct {
	Dir      string         // the cache; "" means DefaultDir()
	MaxBytes int64          // bound on the cache's unpacked bytes; 0 means DefaultMaxBytes
	Progress func(Progress) // called as pulls go; nil means quiet
}

// DefaultMaxBytes is the cache bound when Options.MaxBytes is 0.
const DefaultMaxBytes = 20 << 30

// Progress reports a pull's progress.
type Progress struct {
	Ref         string
	Phase       string // "resolve", "download", "unpack", "done"
	Layer       int    // the layer (0-based) being downloaded or unpacked
	Layers      int
	Done, Total int64 // bytes of the whole image's compressed layers
}

// Image describes an image in the cache.
type Image struct {
	Refs           []string // the references that name it
	Digest         string   // its config's digest: its identity in the cache
	ManifestDigest string
	Size           int64 // unpacked bytes
	Pulled         time.Time
	LastUsed       time.Time
	Config         sandbox.ImageConfig
}

// Store is a cache of unpacked images in a directory. Several processes may
// share one.
type Store struct{ opts Options }

// Open opens (creating it if needed) the cache opts name.
func Open(opts Options) (*Store, error) { return &Store{opts: opts}, nil }

// Default returns the store in DefaultDir with the default options.
func Default() *Store { return &Store{} }

// DefaultDir is the default cache directory.
func DefaultDir() string { return "" }

var errTODO = errors.New("image: not implemented yet")

// Pull fetches ref afresh and unpacks it unless it is cached.
func (s *Store) Pull(ctx context.Context, ref string) (*Image, error) { return nil, errTODO }

// OpenImage implements sandbox.ImageSource.
func (s *Store) OpenImage(ctx context.Context, ref string) (*sandbox.ImageRoot, error) {
	return nil, errTODO
}

// List returns the cached images.
func (s *Store) List() ([]Image, error) { return nil, errTODO }

// Remove removes the reference ref, and its image when no other names it.
func (s *Store) Remove(ref string) error { return errTODO }

// PruneReport says what Prune removed.
type PruneReport struct {
	Removed []Image
	Freed   int64
}

// Prune removes images no reference names (all: every image not in use).
func (s *Store) Prune(all bool) (PruneReport, error) { return PruneReport{}, errTODO }

var _ sandbox.ImageSource = (*Store)(nil)
