package image

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/corral-dev/corral/internal/unpack"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// applyLayers streams src's layers, bottom-up, into dir, verifying each.
func (s *Store) applyLayers(ctx context.Context, src *source, dir string) error {
	ref := src.ref.input
	layers, err := src.img.Layers()
	if err != nil {
		return classify(src.ref, err)
	}
	diffIDs := src.cfg.RootFS.DiffIDs
	if len(diffIDs) != len(layers) {
		return fmt.Errorf("%w: image %s: its config lists %d diff_ids for %d layers", ErrUnsupported, ref, len(diffIDs), len(layers))
	}
	prog := Progress{Ref: ref, Phase: "unpack", Layers: len(layers)}
	if src.compressed {
		for _, l := range layers {
			n, err := l.Size()
			if err != nil {
				return classify(src.ref, err)
			}
			prog.Total += n
		}
	}
	if src.ref.kind == kindRegistry {
		prog.Phase = "download"
	}
	var written int64 // regular files' bytes so far, against MaxBytes
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("image %s: %w", ref, context.Cause(ctx))
		}
		prog.Layer = i
		s.report(prog)
		n, err := s.applyLayer(ctx, src, i, l, diffIDs[i], dir, written, &prog)
		written += n
		if err != nil {
			return err
		}
	}
	return nil
}

// applyLayer applies layer i, given the bytes the layers below wrote, and
// returns the bytes it wrote.
func (s *Store) applyLayer(ctx context.Context, src *source, i int, l v1.Layer, diffID v1.Hash, dir string, written int64, prog *Progress) (int64, error) {
	ref := src.ref.input
	budget := s.opts.MaxBytes - written
	if budget <= 0 {
		return 0, s.errCacheFull(ref, written)
	}
	count := func(n int) {
		prog.Done += int64(n)
		s.report(*prog)
	}
	var (
		raw    *hashReader // the layer as stored
		stream io.ReadCloser
		want   v1.Hash
		err    error
	)
	if src.compressed {
		if want, err = l.Digest(); err != nil {
			return 0, classify(src.ref, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return 0, classify(src.ref, err)
		}
		if raw, err = newHashReader(ctx, rc, want.Algorithm, count); err != nil {
			rc.Close()
			return 0, fmt.Errorf("image %s: layer %d: %w", ref, i, err)
		}
		defer raw.Close()
		if size, err := l.Size(); err == nil && size > 0 {
			raw.limit = size
		}
		// go-containerregistry's own decompression (gzip, zstd or none,
		// by the stream's magic), over the counted, hashed blob.
		ul, _ := partial.CompressedToLayer(storedLayer{l, raw})
		if stream, err = ul.Uncompressed(); err != nil {
			return 0, s.layerError(src, i, raw, want, fmt.Errorf("decompressing: %w", err), written)
		}
	} else {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, classify(src.ref, err)
		}
		if raw, err = newHashReader(ctx, rc, diffID.Algorithm, count); err != nil {
			rc.Close()
			return 0, fmt.Errorf("image %s: layer %d: %w", ref, i, err)
		}
		stream = raw
	}
	defer stream.Close()
	tarStream, err := newHashReader(ctx, stream, diffID.Algorithm, nil)
	if err != nil {
		return 0, fmt.Errorf("image %s: layer %d: %w", ref, i, err)
	}
	st, err := applyPiped(dir, tarStream, budget)
	if err == nil && src.compressed { // read to its end: the digest is then whole
		_, err = io.Copy(io.Discard, raw)
	}
	if src.compressed {
		if err := s.layerError(src, i, raw, want, err, written+st.Bytes); err != nil {
			return st.Bytes, err
		}
	} else if err != nil {
		return st.Bytes, s.wrapApply(src, i, written+st.Bytes, err)
	}
	if got := tarStream.sum(); got != diffID {
		return st.Bytes, fmt.Errorf("%w: image %s: layer %d: uncompressed content is %s, the config's diff_id says %s",
			ErrDigestMismatch, ref, i, got, diffID)
	}
	return st.Bytes, nil
}

// applyPiped unpacks the tar stream r into dir with unpack.Apply, while
// another goroutine reads r (download, decompression, hashing): the two
// halves of a pull overlap. r is read to its end (the digests are then
// whole) unless Apply fails; it is not used once applyPiped returns.
func applyPiped(dir string, r io.Reader, budget int64) (unpack.Stats, error) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := io.CopyBuffer(pw, r, make([]byte, 256<<10))
		pw.CloseWithError(err) // nil: EOF
	}()
	st, err := unpack.Apply(dir, pr, unpack.Options{MaxBytes: budget})
	if err == nil {
		_, err = io.Copy(io.Discard, pr) // the tar's padding, to the stream's end
	}
	pr.CloseWithError(errors.New("image: unpack stopped")) // unblocks the copier
	<-done
	return st, err
}

// layerError turns err, met reading layer i, into the error to return: a
// blob whose digest is wrong explains any other failure, so the blob is
// read to its end and checked first. size is the bytes written so far.
func (s *Store) layerError(src *source, i int, raw *hashReader, want v1.Hash, err error, size int64) error {
	if !errors.Is(err, unpack.ErrTooBig) && src.ref.kind != kindArchive && raw.ctx.Err() == nil {
		if err != nil {
			io.Copy(io.Discard, raw)
		}
		if got := raw.sum(); got != want {
			return fmt.Errorf("%w: image %s: layer %d: blob is %s, the manifest says %s",
				ErrDigestMismatch, src.ref.input, i, got, want)
		}
	}
	if err != nil {
		return s.wrapApply(src, i, size, err)
	}
	return nil
}

// wrapApply wraps an error of unpack.Apply for layer i; size is the bytes
// written so far.
func (s *Store) wrapApply(src *source, i int, size int64, err error) error {
	ref := src.ref.input
	switch {
	case errors.Is(err, unpack.ErrTooBig):
		return s.errCacheFull(ref, size)
	case errors.Is(err, unpack.ErrUnsafe):
		return fmt.Errorf("%w: image %s: layer %d: %w", ErrUnsafeLayer, ref, i, err)
	}
	return fmt.Errorf("image %s: layer %d: %w", ref, i, err)
}

// storedLayer is a layer whose compressed stream is an open hashReader:
// partial.CompressedToLayer gives it go-containerregistry's decompression.
type storedLayer struct {
	v1.Layer
	raw *hashReader
}

func (l storedLayer) Compressed() (io.ReadCloser, error) { return l.raw, nil }
func (l storedLayer) Digest() (v1.Hash, error)           { return l.Layer.Digest() }
func (l storedLayer) Size() (int64, error)               { return l.Layer.Size() }
func (l storedLayer) MediaType() (types.MediaType, error) {
	return l.Layer.MediaType()
}

// hashReader hashes (and counts) what is read through it, and stops when
// its context is done.
type hashReader struct {
	ctx    context.Context
	r      io.ReadCloser
	h      hash.Hash
	algo   string
	onRead func(int)
	closed bool
	// limit, when positive, is the most bytes the stream may hold (the
	// blob's size in its descriptor): a longer one (a layout's blob
	// pointing at /dev/zero, a registry that streams on) ends at limit+1.
	limit, n int64
}

func newHashReader(ctx context.Context, r io.ReadCloser, algo string, onRead func(int)) (*hashReader, error) {
	h, err := v1.Hasher(algo)
	if err != nil {
		return nil, err
	}
	return &hashReader{ctx: ctx, r: r, h: h, algo: algo, onRead: onRead}, nil
}

func (r *hashReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, context.Cause(r.ctx)
	}
	if r.limit > 0 {
		if r.n > r.limit {
			return 0, fmt.Errorf("%w: the blob is longer than the %d bytes its descriptor says", ErrDigestMismatch, r.limit)
		}
		p = p[:min(int64(len(p)), r.limit+1-r.n)]
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	r.h.Write(p[:n])
	if n > 0 && r.onRead != nil {
		r.onRead(n)
	}
	return n, err
}

// Close closes the underlying reader once.
func (r *hashReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.r.Close()
}

func (r *hashReader) sum() v1.Hash {
	return v1.Hash{Algorithm: r.algo, Hex: hex.EncodeToString(r.h.Sum(nil))}
}
