// Package image gives sandboxes container images as their root
// filesystem: it pulls OCI and Docker images from registries, local OCI
// image layouts and docker save archives (with go-containerregistry),
// unpacks them rootless into a content-addressed cache, and serves them to
// package sandbox as an ImageSource:
//
//	store := image.Default()
//	sb := sandbox.New(sandbox.Options{Image: "python:3.12-slim", Images: store})
//
// # References
//
// A reference is one of:
//
//   - a registry reference, parsed as docker does: "busybox",
//     "ghcr.io/org/app:1.2", "registry:5000/app@sha256:...";
//   - "oci:DIR[:TAG]" (or "oci-layout:DIR[:TAG]"): an OCI image layout;
//   - "docker-archive:FILE[:TAG]": a docker save archive (TAG, e.g.
//     app:1, picks one of its images);
//   - a path (starting with "/", "./" or "../", or one that exists): an OCI
//     layout directory or a docker save archive.
//
// An index (a multi-platform image) resolves to the host's platform.
// Registry credentials come from ~/.docker/config.json ($DOCKER_CONFIG),
// as docker login writes them.
//
// # The cache
//
// An unpacked image is keyed by its config digest (the image ID). The
// layers of an image are applied bottom-up into one directory, verified by
// digest: the compressed blob's and each layer's diff_id. Several
// processes may share a cache: unpacks happen once, under a lock, into a
// temporary directory renamed into place. OpenImage of a reference the
// cache knows never touches the network (pull if missing); Pull always
// asks the registry again. The cache is bounded (Options.MaxBytes): after a
// pull the least recently used images not in use are evicted.
package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// Errors the Store's methods wrap; match them with errors.Is.
var (
	// ErrNotFound: the registry, layout or archive has no such image, or
	// no image for this host's platform.
	ErrNotFound = errors.New("image: not found")
	// ErrDigestMismatch: content does not match the digest that names it.
	ErrDigestMismatch = errors.New("image: digest mismatch")
	// ErrUnsupported: a media type, manifest schema or platform Corral
	// does not run.
	ErrUnsupported = errors.New("image: unsupported")
	// ErrCacheFull: the image does not fit in Options.MaxBytes.
	ErrCacheFull = errors.New("image: cache full")
	// ErrUnsafeLayer: a layer holds an entry that would leave the root.
	ErrUnsafeLayer = errors.New("image: unsafe layer")
	// ErrInUse: the image is open (a sandbox uses it) and cannot be removed.
	ErrInUse = errors.New("image: in use")
	// ErrUnauthorized: the registry refused the credentials (or their
	// absence).
	ErrUnauthorized = errors.New("image: unauthorized")
)

// Options configure a Store. The zero value is the default store.
type Options struct {
	// Dir is the cache; "" means DefaultDir().
	Dir string
	// MaxBytes bounds the cache's unpacked bytes; 0 means
	// $CORRAL_IMAGES_MAX (a size such as 8G) if set, else DefaultMaxBytes.
	// After each pull, the least recently used images are evicted until
	// the cache fits; images in use are not, so while they are open the
	// cache may stay above the bound. An image larger than the bound
	// alone fails with ErrCacheFull.
	MaxBytes int64
	// Progress, if not nil, is called as pulls go: one call at a time,
	// but not always from the goroutine that called Pull or OpenImage
	// (unpacking overlaps the download in a goroutine of its own).
	Progress func(Progress)
}

// DefaultMaxBytes is the cache bound when Options.MaxBytes is 0 and
// $CORRAL_IMAGES_MAX is not set.
const DefaultMaxBytes = 20 << 30

// Progress reports a pull's progress.
type Progress struct {
	Ref string
	// Phase is "resolve" (reading the manifest and config), "download"
	// (streaming layer Layer from a registry into the cache: download and
	// unpack are one pass), "unpack" (the same from a local layout or
	// archive) or "done".
	Phase  string
	Layer  int // the layer (0-based) being downloaded or unpacked
	Layers int
	// Done and Total count bytes of the image's compressed layers (for a
	// docker save archive, Done counts uncompressed bytes and Total is 0:
	// unknown).
	Done, Total int64
}

// Image describes an image in the cache.
type Image struct {
	Refs           []string // the references that name it, canonical (e.g. index.docker.io/library/busybox:latest)
	Digest         string   // its config's digest: its identity in the cache
	ManifestDigest string   // "" for a docker save archive
	Size           int64    // unpacked bytes (files, plus 4 KiB per directory or link)
	Pulled         time.Time
	LastUsed       time.Time
	Config         sandbox.ImageConfig
}

// Store is a cache of unpacked images in a directory. Several goroutines
// and processes may share one.
type Store struct {
	opts    Options
	initErr error
	once    sync.Once
}

// Open opens (creating it if needed) the cache opts name, and removes the
// leftovers of unpacks that crashed.
func Open(opts Options) (*Store, error) {
	s := &Store{opts: opts}
	if err := s.init(); err != nil {
		return nil, err
	}
	return s, nil
}

// Default returns the store in DefaultDir with the default options. Errors
// setting it up are returned by its methods.
func Default() *Store { return &Store{} }

// DefaultDir is the default cache directory: $CORRAL_IMAGES if set, else
// corral/images in os.UserCacheDir(); "" when neither is known.
func DefaultDir() string {
	if d := os.Getenv("CORRAL_IMAGES"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "corral", "images")
}

// Dir returns the store's directory.
func (s *Store) Dir() string {
	if s.opts.Dir != "" {
		return s.opts.Dir
	}
	return DefaultDir()
}

func (s *Store) init() error {
	s.once.Do(func() { s.initErr = s.setup() })
	return s.initErr
}

func (s *Store) setup() error {
	if s.opts.Dir == "" {
		s.opts.Dir = DefaultDir()
		if s.opts.Dir == "" {
			return errors.New("image: Options.Dir is empty and there is no default: set $CORRAL_IMAGES or $HOME")
		}
	}
	dir, err := filepath.Abs(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("image: Options.Dir: %w", err)
	}
	s.opts.Dir = dir
	if s.opts.MaxBytes < 0 {
		return fmt.Errorf("image: Options.MaxBytes is %d: it must be 0 (the default) or positive", s.opts.MaxBytes)
	}
	if s.opts.MaxBytes == 0 {
		s.opts.MaxBytes = DefaultMaxBytes
		if v := os.Getenv("CORRAL_IMAGES_MAX"); v != "" {
			n, err := parseSize(v)
			if err != nil || n <= 0 {
				return fmt.Errorf("image: $CORRAL_IMAGES_MAX=%q: want a positive size such as 8G or 512M", v)
			}
			s.opts.MaxBytes = n
		}
	}
	if err := privateDir(dir); err != nil {
		return err
	}
	for _, d := range []string{dirRoots, dirRefs, dirLocks, dirTmp} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return fmt.Errorf("image: creating the cache: %w", err)
		}
	}
	s.cleanTmp()
	return nil
}

// parseSize parses a size in bytes with an optional K, M, G or T suffix
// (powers of 1024), as CORRAL_IMAGES_MAX takes it.
func parseSize(v string) (int64, error) {
	mult := int64(1)
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			v = v[:n-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(v, "+") || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}

// errCacheFull builds the ErrCacheFull error for an image of size bytes.
func (s *Store) errCacheFull(ref string, size int64) error {
	return fmt.Errorf("%w: image %s needs more than %d bytes unpacked, over the cache bound of %d bytes: "+
		"raise Options.MaxBytes (or $CORRAL_IMAGES_MAX), or free space with `corral images prune`",
		ErrCacheFull, ref, size, s.opts.MaxBytes)
}

var _ sandbox.ImageSource = (*Store)(nil)

// OpenImage implements sandbox.ImageSource: it returns the unpacked image
// ref names, pulling it first when the cache does not have it. A registry
// reference the cache knows is served with no network access; a local
// layout or archive is read (its manifest and config) each time. The
// image cannot be evicted or removed until the root's Close.
func (s *Store) OpenImage(ctx context.Context, ref string) (*sandbox.ImageRoot, error) {
	if err := s.init(); err != nil {
		return nil, err
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	if !r.local() {
		if id, ok := s.lookup(r); ok {
			root, err := s.openRoot(ctx, id)
			if err == nil || !errors.Is(err, errGone) {
				return root, err
			}
		}
	}
	src, err := s.resolve(ctx, r)
	if err != nil {
		return nil, err
	}
	if r.local() { // read afresh, and cached: no lock but the root's
		root, err := s.openRoot(ctx, src.id.String())
		if err == nil || !errors.Is(err, errGone) {
			return root, err
		}
	}
	_, root, err := s.ensure(ctx, src, true)
	return root, err
}

// Pull resolves ref afresh (a tag that moved is pulled again) and unpacks
// the image unless the cache has it.
func (s *Store) Pull(ctx context.Context, ref string) (*Image, error) {
	if err := s.init(); err != nil {
		return nil, err
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	s.cleanTmp() // what crashed pulls left since Open
	src, err := s.resolve(ctx, r)
	if err != nil {
		return nil, err
	}
	im, _, err := s.ensure(ctx, src, false)
	return im, err
}

// privateDir makes the cache directory dir (and its missing parents) and
// makes it the caller's alone (0700): the unpacked images keep their own
// modes (a 1777 /var/tmp, a 0666 file), and the locks decide what may be
// evicted, so no other user may reach into it. A directory the caller does
// not own is refused.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("image: creating the cache: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("image: the cache: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("image: the cache %s is not a directory (a symlink?): set Options.Dir or $CORRAL_IMAGES to a directory of your own", dir)
	case ok && int(st.Uid) != os.Getuid():
		return fmt.Errorf("image: the cache %s belongs to uid %d, not to you (uid %d): set Options.Dir or $CORRAL_IMAGES to a directory of your own", dir, st.Uid, os.Getuid())
	case fi.Mode().Perm()&0o077 != 0:
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("image: making the cache private: %w", err)
		}
	}
	return nil
}
