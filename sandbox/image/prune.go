package image

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// List returns the cached images, most recently used first.
func (s *Store) List() ([]Image, error) {
	if err := s.init(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.path(dirRoots))
	if err != nil {
		return nil, fmt.Errorf("image: listing the cache: %w", err)
	}
	refs, err := s.allRefs()
	if err != nil {
		return nil, err
	}
	byDigest := map[string][]string{}
	for _, e := range refs {
		if !strings.HasPrefix(e.Ref, "@") {
			byDigest[e.Digest] = append(byDigest[e.Digest], e.Ref)
		}
	}
	var images []Image
	for _, ent := range ents {
		h := ent.Name()
		if hexOf("sha256:"+h) == "" {
			continue
		}
		m, lastUsed, err := s.readMeta(h)
		if err != nil {
			// Removed meanwhile, or an image.json that cannot be read (a
			// crash while an editor had it?): one bad entry must not hide
			// the others, nor stop eviction.
			continue
		}
		im := m.image(lastUsed)
		im.Refs = byDigest[m.Digest]
		slices.Sort(im.Refs)
		images = append(images, im)
	}
	slices.SortFunc(images, func(a, b Image) int { return b.LastUsed.Compare(a.LastUsed) })
	return images, nil
}

// Remove removes the reference ref, and its image when no other reference
// names it. ref may also be an image's digest ("sha256:..." or a prefix of
// its hex of at least 12 digits, as List and corral images show it): then
// the image goes with all its references. An image in use is not removed
// (ErrInUse), and neither is its reference.
func (s *Store) Remove(ref string) error {
	if err := s.init(); err != nil {
		return err
	}
	if h, err := s.findDigest(ref); err != nil || h != "" {
		if err != nil {
			return err
		}
		return s.removeImage(h)
	}
	r, err := parseRef(ref)
	if err != nil {
		return err
	}
	key := r.canonical()
	e, ok := s.readRef(key)
	if !ok {
		return fmt.Errorf("%w: the cache has no reference %s", ErrNotFound, key)
	}
	refs, err := s.allRefs()
	if err != nil {
		return err
	}
	for _, o := range refs {
		if o.Digest == e.Digest && o.Ref != key && !strings.HasPrefix(o.Ref, "@") {
			return os.Remove(s.path(dirRefs, refKey(key))) // another name keeps the image
		}
	}
	err = s.removeImage(hexOf(e.Digest))
	if errors.Is(err, errGone) {
		return os.Remove(s.path(dirRefs, refKey(key)))
	}
	return err
}

// findDigest returns the hex of the cached image s names by digest, ""
// when s is not a digest.
func (s *Store) findDigest(ref string) (string, error) {
	h := strings.TrimPrefix(ref, "sha256:")
	if len(h) < 12 || len(h) > 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", nil
	}
	ents, err := os.ReadDir(s.path(dirRoots))
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	var found []string
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), h) {
			found = append(found, ent.Name())
		}
	}
	switch len(found) {
	case 0:
		if len(h) == 64 || strings.HasPrefix(ref, "sha256:") {
			return "", fmt.Errorf("%w: the cache has no image %s", ErrNotFound, ref)
		}
		return "", nil // maybe a name that looks like hex
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("image: %s names %d images: give more digits", ref, len(found))
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Removed []Image
	Freed   int64 // bytes
	InUse   int   // images kept because they are in use
}

// Prune removes the images no reference names (an image whose tag moved
// to another), and the references to images no longer cached. With all,
// it removes every image not in use.
func (s *Store) Prune(all bool) (PruneReport, error) {
	var rep PruneReport
	images, err := s.List()
	if err != nil {
		return rep, err
	}
	for _, im := range images {
		if len(im.Refs) > 0 && !all {
			continue
		}
		switch err := s.removeImage(hexOf(im.Digest)); {
		case errors.Is(err, ErrInUse):
			rep.InUse++
		case err != nil:
			return rep, err
		default:
			rep.Removed = append(rep.Removed, im)
			rep.Freed += im.Size
		}
	}
	refs, err := s.allRefs()
	if err != nil {
		return rep, err
	}
	for _, e := range refs {
		if _, err := os.Stat(s.path(dirRoots, hexOf(e.Digest))); errors.Is(err, os.ErrNotExist) {
			os.Remove(s.path(dirRefs, refKey(e.Ref)))
		}
	}
	return rep, nil
}

// evict removes least recently used images not in use (nor keep) until
// the cache is within its bound.
func (s *Store) evict(keep string) {
	images, err := s.List()
	if err != nil {
		return
	}
	var total int64
	for _, im := range images {
		total += im.Size
	}
	for i := len(images) - 1; i >= 0 && total > s.opts.MaxBytes; i-- { // oldest first
		h := hexOf(images[i].Digest)
		if h == keep {
			continue
		}
		if s.removeImage(h) == nil {
			total -= images[i].Size
		}
	}
}
