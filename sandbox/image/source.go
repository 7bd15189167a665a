package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// source is a resolved reference: one image, its manifest and config
// read and checked, its layers not yet.
type source struct {
	ref        reference
	img        v1.Image
	manifest   string  // the manifest's digest; "" for an archive
	id         v1.Hash // the config's digest
	cfg        *v1.ConfigFile
	compressed bool // layers are read as stored (verified by blob digest), else uncompressed
}

// hostPlatform is the platform an index resolves to.
func hostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// refAnnotation names an image in an OCI layout's index.json.
const refAnnotation = "org.opencontainers.image.ref.name"

// resolve reads the manifest and config of the image r names.
func (s *Store) resolve(ctx context.Context, r reference) (*source, error) {
	s.report(Progress{Ref: r.input, Phase: "resolve"})
	src := &source{ref: r, compressed: true}
	var err error
	switch r.kind {
	case kindRegistry:
		err = src.fromRegistry(ctx)
	case kindLayout:
		err = src.fromLayout()
	case kindArchive:
		src.compressed = false
		if _, err := os.Stat(r.path); err != nil {
			return nil, fmt.Errorf("%w: docker save archive: %w", ErrNotFound, err)
		}
		var tag *name.Tag
		if r.tag != "" {
			t, err := name.NewTag(r.tag)
			if err != nil {
				return nil, fmt.Errorf("image: reference %q: bad tag %q: %w", r.input, r.tag, err)
			}
			tag = &t
		}
		src.img, err = tarball.ImageFromPath(r.path, tag)
		if err != nil {
			err = fmt.Errorf("%w: reading docker save archive %s (one holding several images needs docker-archive:FILE:TAG): %w",
				ErrUnsupported, r.path, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := src.readConfig(); err != nil {
		return nil, err
	}
	return src, nil
}

func (src *source) fromRegistry(ctx context.Context) error {
	r := src.ref
	desc, err := remote.Get(r.registry,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(hostPlatform()),
		remote.WithUserAgent("corral"))
	if err != nil {
		return classify(r, err)
	}
	if want := r.digest(); want != "" && desc.Digest.String() != want {
		return fmt.Errorf("%w: image %s: the registry's manifest has digest %s", ErrDigestMismatch, r.input, desc.Digest)
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return classify(r, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return classify(r, err)
		}
		return src.pickPlatform(idx, im.Manifests)
	case desc.MediaType.IsImage():
		src.manifest = desc.Digest.String()
		src.img, err = desc.Image()
		return classify(r, err)
	}
	return fmt.Errorf("%w: image %s: manifest media type %q (Corral runs OCI and Docker schema 2 images)",
		ErrUnsupported, r.input, desc.MediaType)
}

func (src *source) fromLayout() error {
	r := src.ref
	p, err := layout.FromPath(r.path)
	if err != nil {
		return fmt.Errorf("%w: OCI layout %s: %w", ErrNotFound, r.path, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return fmt.Errorf("%w: OCI layout %s: %w", ErrUnsupported, r.path, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("%w: OCI layout %s: %w", ErrUnsupported, r.path, err)
	}
	descs := im.Manifests
	if r.tag != "" {
		var tags []string
		descs = nil
		for _, d := range im.Manifests {
			t := d.Annotations[refAnnotation]
			tags = append(tags, t)
			if t == r.tag || strings.HasSuffix(t, ":"+r.tag) {
				descs = append(descs, d)
			}
		}
		if len(descs) == 0 {
			return fmt.Errorf("%w: OCI layout %s has no image tagged %q (it has %q)", ErrNotFound, r.path, r.tag, tags)
		}
	}
	return src.pickPlatform(idx, descs)
}

// pickPlatform picks, among an index's descriptors, the image for this
// host's platform (a lone image without a platform is taken as is).
func (src *source) pickPlatform(idx v1.ImageIndex, descs []v1.Descriptor) error {
	host := hostPlatform()
	var have, tags []string
	for _, d := range descs {
		if d.MediaType.IsImage() && d.Platform == nil {
			tags = append(tags, fmt.Sprintf("%q", d.Annotations[refAnnotation]))
		}
	}
	if len(tags) > 1 && len(tags) == len(descs) {
		return fmt.Errorf("%w: %s holds %d images and none is for a platform: name one with :TAG (tags %s)",
			ErrNotFound, src.ref.input, len(tags), strings.Join(tags, ", "))
	}
	for _, d := range descs {
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return classify(src.ref, err)
			}
			im, err := child.IndexManifest()
			if err != nil {
				return classify(src.ref, err)
			}
			if err := src.pickPlatform(child, im.Manifests); err == nil || !errors.Is(err, ErrNotFound) {
				return err
			}
			continue
		}
		if !d.MediaType.IsImage() {
			continue
		}
		p := d.Platform
		if p == nil {
			if len(descs) == 1 {
				return src.pick(idx, d)
			}
			p = &v1.Platform{OS: "linux", Architecture: "amd64"} // as docker assumes
		}
		have = append(have, p.String())
		if p.Satisfies(host) {
			return src.pick(idx, d)
		}
	}
	slices.Sort(have)
	return fmt.Errorf("%w: image %s has no %s image (it has %s)",
		ErrNotFound, src.ref.input, host.String(), strings.Join(slices.Compact(have), ", "))
}

func (src *source) pick(idx v1.ImageIndex, d v1.Descriptor) error {
	img, err := idx.Image(d.Digest)
	if err != nil {
		return classify(src.ref, err)
	}
	src.img, src.manifest = img, d.Digest.String()
	return nil
}

// readConfig reads and checks the config and the layers' media types.
func (src *source) readConfig() error {
	ref := src.ref.input
	if src.compressed {
		// The config is read whole, before its digest can be checked: a
		// registry must not make this process read gigabytes for it.
		m, err := src.img.Manifest()
		if err != nil {
			return classify(src.ref, err)
		}
		if m.Config.Size > maxConfig {
			return fmt.Errorf("%w: image %s: its config is %d bytes, more than the %d a container image's config may be", ErrUnsupported, ref, m.Config.Size, maxConfig)
		}
		if len(m.Layers) > maxLayers {
			return fmt.Errorf("%w: image %s has %d layers, more than %d", ErrUnsupported, ref, len(m.Layers), maxLayers)
		}
	}
	raw, err := src.img.RawConfigFile()
	if err != nil {
		return classify(src.ref, err)
	}
	id, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	src.id = id
	if src.compressed { // an archive's manifest is computed, not stored: nothing to check
		m, err := src.img.Manifest()
		if err != nil {
			return classify(src.ref, err)
		}
		if m.Config.Digest != id {
			return fmt.Errorf("%w: image %s: config is %s, the manifest says %s", ErrDigestMismatch, ref, id, m.Config.Digest)
		}
		if mt := m.Config.MediaType; mt != "" && !mt.IsConfig() {
			return fmt.Errorf("%w: image %s: config media type %q: this is an artifact, not a container image", ErrUnsupported, ref, mt)
		}
		for i, l := range m.Layers {
			if err := checkLayerType(ref, i, l.MediaType); err != nil {
				return err
			}
		}
	}
	src.cfg, err = v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%w: image %s: config: %w", ErrUnsupported, ref, err)
	}
	if goos := src.cfg.OS; goos != "" && goos != "linux" {
		return fmt.Errorf("%w: image %s is for %s/%s: Corral runs linux images", ErrUnsupported, ref, goos, src.cfg.Architecture)
	}
	if arch := src.cfg.Architecture; arch != "" && arch != runtime.GOARCH {
		return fmt.Errorf("%w: image %s is for linux/%s, and this host is linux/%s: pull the image's %s variant (or a multi-platform tag)", ErrUnsupported, ref, arch, runtime.GOARCH, runtime.GOARCH)
	}
	return nil
}

// The most a config may weigh and the most layers an image may have
// (Docker's own limit is 127 layers; configs are kilobytes).
const (
	maxConfig = 8 << 20
	maxLayers = 1000
)

// checkLayerType refuses layers Corral cannot unpack.
func checkLayerType(ref string, i int, mt types.MediaType) error {
	if !mt.IsLayer() {
		return fmt.Errorf("%w: image %s: layer %d has media type %q, not a tar layer Corral can unpack", ErrUnsupported, ref, i, mt)
	}
	if !mt.IsDistributable() {
		return fmt.Errorf("%w: image %s: layer %d is a foreign layer (%s), e.g. a Windows base layer: Corral runs linux images", ErrUnsupported, ref, i, mt)
	}
	return nil
}

// classify wraps a go-containerregistry error with the sentinel it means.
func classify(r reference, err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		codes := map[transport.ErrorCode]bool{}
		for _, d := range te.Errors {
			codes[d.Code] = true
		}
		switch {
		case te.StatusCode == http.StatusNotFound, codes[transport.ManifestUnknownErrorCode],
			codes[transport.NameUnknownErrorCode], codes[transport.BlobUnknownErrorCode]:
			return fmt.Errorf("%w: image %s: %w", ErrNotFound, r.input, err)
		case te.StatusCode == http.StatusUnauthorized, te.StatusCode == http.StatusForbidden,
			codes[transport.UnauthorizedErrorCode], codes[transport.DeniedErrorCode]:
			host := ""
			if r.registry != nil {
				host = r.registry.Context().RegistryStr()
			}
			return fmt.Errorf("%w: image %s: access denied: it does not exist, or it needs credentials "+
				"(read from ~/.docker/config.json or $DOCKER_CONFIG: try docker login %s): %w",
				ErrUnauthorized, r.input, host, err)
		}
	}
	if errors.Is(err, remote.ErrSchema1) {
		return fmt.Errorf("%w: image %s: a schema 1 manifest (push it again with a current docker): %w", ErrUnsupported, r.input, err)
	}
	// go-containerregistry checks a digest reference's manifest but
	// returns a plain error: match its words (pinned by a test).
	if strings.Contains(err.Error(), "does not match requested digest") {
		return fmt.Errorf("%w: image %s: %w", ErrDigestMismatch, r.input, err)
	}
	return fmt.Errorf("image %s: %w", r.input, err)
}
