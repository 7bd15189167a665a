package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// ensure puts the image src names in the cache (unless it is there),
// records its references and, with open, opens it.
func (s *Store) ensure(ctx context.Context, src *source, open bool) (*Image, *sandbox.ImageRoot, error) {
	id, h := src.id.String(), src.id.Hex
	l, err := lockFile(ctx, s.lockPath(h, "pull"), unix.LOCK_EX, true)
	if err != nil {
		return nil, nil, err
	}
	defer l.unlock()
	m, lastUsed, err := s.readMeta(h)
	pulled := false
	if errors.Is(err, errGone) {
		m, err = s.unpack(ctx, src)
		lastUsed, pulled = m.Pulled, true
	}
	if err != nil {
		return nil, nil, err
	}
	refs := []string{src.ref.canonical()}
	if err := s.writeRef(refs[0], id); err != nil {
		return nil, nil, err
	}
	if src.manifest != "" {
		if err := s.writeRef(digestAlias(src.manifest), id); err != nil {
			return nil, nil, err
		}
	}
	var root *sandbox.ImageRoot
	if open {
		// Taken before the pull lock is released: no eviction or prune
		// can come between the unpack and the open.
		if root, err = s.openRoot(ctx, id); err != nil {
			return nil, nil, err
		}
	}
	l.unlock()
	if pulled {
		s.evict(h)
	}
	s.report(Progress{Ref: src.ref.input, Phase: "done", Layers: len(src.cfg.RootFS.DiffIDs)})
	im := m.image(lastUsed)
	if all, err := s.allRefs(); err == nil && !open { // Pull's caller sees every name
		refs = refs[:0]
		for _, e := range all {
			if e.Digest == id && !strings.HasPrefix(e.Ref, "@") {
				refs = append(refs, e.Ref)
			}
		}
		slices.Sort(refs)
	}
	im.Refs = refs
	return &im, root, nil
}

func (m meta) image(lastUsed time.Time) Image {
	return Image{Digest: m.Digest, ManifestDigest: m.ManifestDigest, Size: m.Size,
		Pulled: m.Pulled, LastUsed: lastUsed, Config: m.Config}
}

// unpack applies src's layers into a temporary directory, verifies them,
// and renames it into roots/. The caller holds the pull lock. On error
// nothing is left in roots/ (nor, on return, in tmp/).
func (s *Store) unpack(ctx context.Context, src *source) (meta, error) {
	h := src.id.Hex
	tmp := s.path(dirTmp, h+"-"+randomName())
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return meta{}, fmt.Errorf("image: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			removeTree(tmp)
		}
	}()
	if err := s.applyLayers(ctx, src, rootfs); err != nil {
		return meta{}, err
	}
	size, err := diskSize(rootfs)
	if err != nil {
		return meta{}, fmt.Errorf("image: %w", err)
	}
	if size > s.opts.MaxBytes {
		return meta{}, s.errCacheFull(src.ref.input, size)
	}
	c := src.cfg.Config
	m := meta{
		Digest:         src.id.String(),
		ManifestDigest: src.manifest,
		Size:           size,
		Pulled:         time.Now().UTC(),
		Source:         src.ref.canonical(),
		Config: sandbox.ImageConfig{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env,
			WorkingDir: c.WorkingDir, User: c.User},
	}
	b, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return meta{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, metaFile), b, 0o644); err != nil {
		return meta{}, fmt.Errorf("image: %w", err)
	}
	if err := os.Rename(tmp, s.path(dirRoots, h)); err != nil {
		return meta{}, fmt.Errorf("image: moving the unpacked image into the cache: %w", err)
	}
	ok = true
	return m, nil
}

// diskSize is what a tree counts against the cache bound: its regular
// files' sizes (a hard-linked file once), plus 4 KiB per directory or link.
func diskSize(dir string) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			size += 4096
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += fi.Size()
		return nil
	})
	return size, err
}

// report calls the Progress callback, if any.
func (s *Store) report(p Progress) {
	if s.opts.Progress != nil {
		s.opts.Progress(p)
	}
}
