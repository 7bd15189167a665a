package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/corral-dev/corral/internal/unpack"
	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// The cache's layout, beneath the store's directory.
const (
	dirRoots = "roots" // roots/<hex>/rootfs, roots/<hex>/image.json
	dirRefs  = "refs"  // refs/<sha256 of the canonical ref>: refEntry
	dirLocks = "locks" // locks/<hex>.pull, locks/<hex>.use
	dirTmp   = "tmp"   // tmp/<hex>-<random>: unpacks in progress, removals
	metaFile = "image.json"
)

// errGone: the image is not (or no longer) in the cache.
var errGone = errors.New("image: not in the cache")

// meta is a root's image.json. Its mtime is the image's last use.
type meta struct {
	Digest         string              `json:"digest"`
	ManifestDigest string              `json:"manifestDigest,omitempty"`
	Size           int64               `json:"size"`
	Pulled         time.Time           `json:"pulled"`
	Source         string              `json:"source"`
	Config         sandbox.ImageConfig `json:"config"`
}

// refEntry is a file in refs/.
type refEntry struct {
	Ref    string `json:"ref"`    // canonical, or "@sha256:..." for a manifest digest
	Digest string `json:"digest"` // the image's config digest
}

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.opts.Dir}, elem...)...)
}

func (s *Store) lockPath(hex, kind string) string { return s.path(dirLocks, hex+"."+kind) }

// hexOf returns the hex of a "sha256:<hex>" digest, or "".
func hexOf(digest string) string {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(h) != 64 {
		return ""
	}
	if _, err := hex.DecodeString(h); err != nil {
		return ""
	}
	return h
}

func randomName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// readRef reads the refs/ entry for key.
func (s *Store) readRef(key string) (refEntry, bool) {
	var e refEntry
	b, err := readSmall(s.path(dirRefs, refKey(key)))
	if err != nil || json.Unmarshal(b, &e) != nil || e.Ref != key || hexOf(e.Digest) == "" {
		return e, false
	}
	return e, true
}

// lookup returns the image digest the cache has for r.
func (s *Store) lookup(r reference) (string, bool) {
	if e, ok := s.readRef(r.canonical()); ok {
		return e.Digest, true
	}
	if d := r.digest(); d != "" {
		if e, ok := s.readRef(digestAlias(d)); ok {
			return e.Digest, true
		}
	}
	return "", false
}

// writeRef points key at the image digest. The caller holds the image's
// pull lock (the temporary file lives in tmp/ under that image's name).
func (s *Store) writeRef(key, digest string) error {
	b, _ := json.Marshal(refEntry{Ref: key, Digest: digest})
	tmp := s.path(dirTmp, hexOf(digest)+"-ref"+randomName())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("image: writing reference %s: %w", key, err)
	}
	if err := os.Rename(tmp, s.path(dirRefs, refKey(key))); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image: writing reference %s: %w", key, err)
	}
	return nil
}

// allRefs reads the refs/ table.
func (s *Store) allRefs() ([]refEntry, error) {
	ents, err := os.ReadDir(s.path(dirRefs))
	if err != nil {
		return nil, fmt.Errorf("image: reading references: %w", err)
	}
	var refs []refEntry
	for _, ent := range ents {
		var e refEntry
		b, err := os.ReadFile(s.path(dirRefs, ent.Name()))
		if err != nil || json.Unmarshal(b, &e) != nil || refKey(e.Ref) != ent.Name() {
			continue
		}
		refs = append(refs, e)
	}
	return refs, nil
}

// readMeta reads roots/<hex>/image.json and its mtime.
func (s *Store) readMeta(hex string) (meta, time.Time, error) {
	var m meta
	p := s.path(dirRoots, hex, metaFile)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return m, time.Time{}, errGone
	}
	if err != nil {
		return m, time.Time{}, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return m, time.Time{}, fmt.Errorf("image: %w", err)
	}
	if err := json.NewDecoder(f).Decode(&m); err != nil {
		return m, time.Time{}, fmt.Errorf("image: %s: %w", p, err)
	}
	return m, fi.ModTime(), nil
}

// openRoot opens the cached image id, holding it in use until Close; it
// waits for the use lock (held exclusively only for a moment, by a
// removal) until ctx is done.
func (s *Store) openRoot(ctx context.Context, id string) (*sandbox.ImageRoot, error) {
	h := hexOf(id)
	if h == "" {
		return nil, errGone
	}
	l, err := lockFile(ctx, s.lockPath(h, "use"), unix.LOCK_SH, true)
	if err != nil {
		return nil, err
	}
	var m meta
	b, err := readSmall(s.path(dirRoots, h, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		err = errGone
	} else if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		l.unlock()
		return nil, err
	}
	now := time.Now()
	os.Chtimes(s.path(dirRoots, h, metaFile), now, now) // last use, for the LRU; best effort
	return &sandbox.ImageRoot{
		Dir:    s.path(dirRoots, h, "rootfs"),
		Digest: m.Digest,
		Config: m.Config,
		Close:  sync.OnceValue(l.unlock),
	}, nil
}

// removeImage removes an image that is not in use, and the references to
// it. It returns ErrInUse when a sandbox uses it or a pull holds it.
func (s *Store) removeImage(h string) error {
	bg := context.Background()
	use, err := lockFile(bg, s.lockPath(h, "use"), unix.LOCK_EX, false)
	if errors.Is(err, errLocked) {
		return fmt.Errorf("%w: image sha256:%s is open", ErrInUse, h)
	}
	if err != nil {
		return err
	}
	defer use.unlock()
	pull, err := lockFile(bg, s.lockPath(h, "pull"), unix.LOCK_EX, false)
	if errors.Is(err, errLocked) {
		return fmt.Errorf("%w: image sha256:%s is being pulled", ErrInUse, h)
	}
	if err != nil {
		return err
	}
	defer pull.unlock()
	trash := s.path(dirTmp, h+"-rm"+randomName())
	if err := os.Rename(s.path(dirRoots, h), trash); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("image: removing sha256:%s: %w", h, err)
	}
	refs, err := s.allRefs()
	if err != nil {
		return err
	}
	for _, e := range refs {
		if e.Digest == "sha256:"+h {
			os.Remove(s.path(dirRefs, refKey(e.Ref)))
		}
	}
	// The root is gone from roots/: openers need not wait for the delete.
	if err := use.remove(); err != nil {
		return fmt.Errorf("image: removing sha256:%s: %w", h, err)
	}
	if err := removeTree(trash); err != nil {
		return fmt.Errorf("image: removing sha256:%s: %w", h, err)
	}
	return pull.remove()
}

// cleanTmp removes what crashed unpacks and removals left in tmp/: the
// entries whose image's pull lock is free.
func (s *Store) cleanTmp() {
	ents, err := os.ReadDir(s.path(dirTmp))
	if err != nil {
		return
	}
	for _, ent := range ents {
		h, _, _ := strings.Cut(ent.Name(), "-")
		if hexOf("sha256:"+h) == "" {
			continue
		}
		l, err := lockFile(context.Background(), s.lockPath(h, "pull"), unix.LOCK_EX, false)
		if err != nil {
			continue
		}
		removeTree(s.path(dirTmp, ent.Name()))
		l.unlock()
	}
}

// removeTree removes an unpacked tree with unpack.RemoveAll; should that
// fail (a read-only directory its version cannot enter), it makes the
// directories writable and tries again.
func removeTree(dir string) error {
	if err := unpack.RemoveAll(dir); err == nil {
		return nil
	}
	makeWritable(dir)
	return unpack.RemoveAll(dir)
}

func makeWritable(dir string) {
	if os.Chmod(dir, 0o700) != nil {
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			makeWritable(filepath.Join(dir, e.Name()))
		}
	}
}
