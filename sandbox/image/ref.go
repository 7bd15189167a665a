package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// refKind says where a reference's image comes from.
type refKind int

const (
	kindRegistry refKind = iota
	kindLayout
	kindArchive
)

// reference is a parsed image reference.
type reference struct {
	kind     refKind
	input    string         // as the caller wrote it
	registry name.Reference // kindRegistry
	path     string         // kindLayout, kindArchive: absolute
	tag      string         // kindLayout: the ref.name annotation to pick; kindArchive: the image's tag; or ""
}

func (r reference) local() bool { return r.kind != kindRegistry }

// canonical is the reference's name in the cache's refs table.
func (r reference) canonical() string {
	switch r.kind {
	case kindLayout:
		if r.tag != "" {
			return "oci:" + r.path + ":" + r.tag
		}
		return "oci:" + r.path
	case kindArchive:
		if r.tag != "" {
			return "docker-archive:" + r.path + ":" + r.tag
		}
		return "docker-archive:" + r.path
	}
	return r.registry.Name()
}

// digest returns the manifest digest a registry reference pins, or "".
func (r reference) digest() string {
	if d, ok := r.registry.(name.Digest); ok {
		return d.DigestStr()
	}
	return ""
}

// refKey names a reference's file in refs/.
func refKey(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return hex.EncodeToString(sum[:])
}

// digestAlias is the refs/ entry that maps a manifest digest, whatever
// its repository, to the image.
func digestAlias(manifestDigest string) string { return "@" + manifestDigest }

// parseRef parses the reference forms the package doc lists.
func parseRef(s string) (reference, error) {
	r := reference{input: s}
	if s == "" {
		return r, errors.New("image: empty reference: want a registry reference (busybox:latest), oci:DIR or docker-archive:FILE")
	}
	switch {
	case strings.HasPrefix(s, "oci:"), strings.HasPrefix(s, "oci-layout:"):
		rest := s[strings.IndexByte(s, ':')+1:]
		dir, tag := rest, ""
		if _, err := os.Stat(rest); err != nil {
			if i := strings.LastIndexByte(rest, ':'); i > 0 && !strings.Contains(rest[i+1:], "/") {
				dir, tag = rest[:i], rest[i+1:]
			}
		}
		return r.withPath(kindLayout, dir, tag)
	case strings.HasPrefix(s, "docker-archive:"):
		file, tag := strings.TrimPrefix(s, "docker-archive:"), ""
		if _, err := os.Stat(file); err != nil { // FILE:TAG, where TAG may hold a colon (app:1)
			for i := strings.IndexByte(file, ':'); i > 0; i = nextColon(file, i) {
				if fi, err := os.Stat(file[:i]); err == nil && fi.Mode().IsRegular() {
					file, tag = file[:i], file[i+1:]
					break
				}
			}
		}
		return r.withPath(kindArchive, file, tag)
	case strings.HasPrefix(s, "/"), strings.HasPrefix(s, "./"), strings.HasPrefix(s, "../"), s == ".", s == "..":
		return r.withLocalPath(s)
	}
	if _, err := os.Lstat(s); err == nil {
		return r.withLocalPath(s)
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return r, fmt.Errorf("image: bad reference %q: %w (want registry/name:tag, name@sha256:..., oci:DIR or docker-archive:FILE)", s, err)
	}
	r.registry = ref
	return r, nil
}

// withLocalPath reads what kind of image the path s holds.
func (r reference) withLocalPath(s string) (reference, error) {
	fi, err := os.Stat(s)
	if err != nil {
		return r, fmt.Errorf("%w: image path %s: %w", ErrNotFound, s, err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(s, "oci-layout")); err != nil {
			return r, fmt.Errorf("%w: %s is a directory but not an OCI image layout (it has no oci-layout file)", ErrUnsupported, s)
		}
		return r.withPath(kindLayout, s, "")
	}
	if !fi.Mode().IsRegular() {
		return r, fmt.Errorf("%w: %s is neither an OCI layout directory nor a docker save archive", ErrUnsupported, s)
	}
	return r.withPath(kindArchive, s, "")
}

func (r reference) withPath(kind refKind, p, tag string) (reference, error) {
	if p == "" {
		return r, fmt.Errorf("image: reference %q names no path", r.input)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return r, fmt.Errorf("image: reference %q: %w", r.input, err)
	}
	r.kind, r.path, r.tag = kind, abs, tag
	return r, nil
}

// nextColon returns the index of the first ':' in s after i, or -1.
func nextColon(s string, i int) int {
	j := strings.IndexByte(s[i+1:], ':')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}
