package imagetest

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is go-containerregistry's in-process registry, served over
// plain HTTP on 127.0.0.1 for the test's lifetime.
type Registry struct {
	// Host is "127.0.0.1:PORT": references to its images start with it.
	Host     string
	srv      *httptest.Server
	blobs    *blobs
	requests atomic.Int64
	user     string
	password string
	mu       sync.Mutex
	swaps    map[string]string
}

// RegistryOption configures NewRegistry.
type RegistryOption func(*Registry)

// WithBasicAuth makes the registry require HTTP basic authentication
// (pkg/registry has none: a handler in front of it checks).
func WithBasicAuth(user, password string) RegistryOption {
	return func(r *Registry) { r.user, r.password = user, password }
}

// NewRegistry starts a registry, stopped when the test ends.
func NewRegistry(t testing.TB, opts ...RegistryOption) *Registry {
	t.Helper()
	r := &Registry{blobs: &blobs{BlobHandler: registry.NewInMemoryBlobHandler(), corrupt: map[string]bool{}}}
	for _, o := range opts {
		o(r)
	}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithBlobHandler(r.blobs))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		if r.user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.password {
				w.Header().Set("WWW-Authenticate", `Basic realm="imagetest"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		r.mu.Lock()
		for from, to := range r.swaps {
			if p, ok := strings.CutSuffix(req.URL.Path, "/manifests/"+from); ok {
				req.URL.Path = p + "/manifests/" + to
			}
		}
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		r.srv.Close()
		// The clients' idle keep-alive connections to it, closed now
		// rather than when their read loops notice (leak checks count fds).
		for _, rt := range []http.RoundTripper{remote.DefaultTransport, http.DefaultTransport} {
			if tr, ok := rt.(interface{ CloseIdleConnections() }); ok {
				tr.CloseIdleConnections()
			}
		}
	})
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// Ref returns the reference to repo (e.g. "app:1") in this registry.
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// Requests returns how many HTTP requests the registry has served.
func (r *Registry) Requests() int64 { return r.requests.Load() }

func (r *Registry) options() []remote.Option {
	if r.user == "" {
		return nil
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: r.user, Password: r.password})}
}

// Push pushes img as repo (e.g. "app:1") and returns its reference by
// digest ("127.0.0.1:PORT/app@sha256:...").
func (r *Registry) Push(t testing.TB, repo string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repo))
	if err != nil {
		t.Fatalf("imagetest: push %s: %v", repo, err)
	}
	if err := remote.Write(ref, img, r.options()...); err != nil {
		t.Fatalf("imagetest: push %s: %v", repo, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("imagetest: push %s: %v", repo, err)
	}
	return ref.Context().Digest(d.String()).String()
}

// PushIndex pushes a multi-platform index as repo and returns its
// reference by digest.
func (r *Registry) PushIndex(t testing.TB, repo string, idx v1.ImageIndex) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repo))
	if err != nil {
		t.Fatalf("imagetest: push %s: %v", repo, err)
	}
	if err := remote.WriteIndex(ref, idx, r.options()...); err != nil {
		t.Fatalf("imagetest: push %s: %v", repo, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatalf("imagetest: push %s: %v", repo, err)
	}
	return ref.Context().Digest(d.String()).String()
}

// Swap makes the registry answer requests for the manifest with digest
// from with the manifest with digest to (in the same repository), as a
// registry that lies would.
func (r *Registry) Swap(from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.swaps == nil {
		r.swaps = map[string]string{}
	}
	r.swaps[from] = to
}

// Corrupt makes the registry serve blob h with one byte changed (at the
// middle), its size unchanged, as a bad disk or proxy would.
func (r *Registry) Corrupt(h v1.Hash) {
	r.blobs.mu.Lock()
	defer r.blobs.mu.Unlock()
	r.blobs.corrupt[h.String()] = true
}

// blobs is the registry's in-memory blob store, with corruption.
type blobs struct {
	registry.BlobHandler
	mu      sync.Mutex
	corrupt map[string]bool
}

func (b *blobs) Get(ctx context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	rc, err := b.BlobHandler.Get(ctx, repo, h)
	b.mu.Lock()
	bad := b.corrupt[h.String()]
	b.mu.Unlock()
	if err != nil || !bad {
		return rc, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	data = bytes.Clone(data)
	if len(data) > 0 {
		data[len(data)/2] ^= 0xff
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (b *blobs) Stat(ctx context.Context, repo string, h v1.Hash) (int64, error) {
	return b.BlobHandler.(registry.BlobStatHandler).Stat(ctx, repo, h)
}

func (b *blobs) Put(ctx context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	return b.BlobHandler.(registry.BlobPutHandler).Put(ctx, repo, h, rc)
}

func (b *blobs) Delete(ctx context.Context, repo string, h v1.Hash) error {
	return b.BlobHandler.(registry.BlobDeleteHandler).Delete(ctx, repo, h)
}
