package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/corral-dev/corral/examples/coderunner/api"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/backend"
	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"github.com/corral-dev/corral/examples/coderunner/service"
	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// TestMain makes the test binary its own sandbox init and checks, after
// the shared backend is closed, that nothing was left behind.
func TestMain(m *testing.M) {
	sandbox.Main()
	before := testutil.Take()
	code := m.Run()
	if shared.b != nil {
		if err := shared.b.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing the backend:", err)
			code = 1
		}
	}
	if leaks := testutil.Leaks(before); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "LEAK CHECK FAILED:\n  "+strings.Join(leaks, "\n  "))
		code = 1
	}
	os.Exit(code)
}

// The limits the tests' servers use, as main's defaults.
var (
	defaults = job.Limits{WallTime: 10 * time.Second, CPUTime: 5 * time.Second, Memory: 128 << 20, Pids: 32, Output: 64 << 10}
	maxima   = job.Limits{WallTime: 20 * time.Second, CPUTime: 10 * time.Second, Memory: 512 << 20, Pids: 128, Output: 1 << 20}
	compile  = job.Limits{WallTime: 180 * time.Second, CPUTime: 180 * time.Second, Memory: 768 << 20, Pids: 128}
)

// goCache is the tests' seeded Go cache, kept between runs (one per uid:
// seeding takes a minute).
var goCache = filepath.Join("/var/tmp", fmt.Sprintf("coderunner-test-gocache-%d", os.Geteuid()))

// shared is one Corral backend for the tests, made on first use.
var shared struct {
	once  sync.Once
	b     job.Backend
	err   error
	langs []*job.Language
}

// corralBackend returns the shared backend, or skips saying why.
func corralBackend(t *testing.T) (job.Backend, []*job.Language) {
	t.Helper()
	testutil.RequireSandbox(t, sandbox.Check().Err())
	shared.once.Do(func() {
		cache := goCache
		if err := os.MkdirAll(cache, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "no seeded Go cache (go builds will be slow): %v\n", err)
			cache = ""
		}
		shared.langs = lang.Detect(cache)
		var binds []string
		for _, l := range shared.langs {
			binds = append(binds, l.Binds...)
		}
		shared.b, shared.err = backend.NewCorral(backend.Config{
			Pool: 2, Reuse: true, Run: defaults, Compile: compile,
			CgroupParent: testutil.CgroupParent(), Binds: binds,
		})
	})
	if shared.err != nil {
		t.Fatalf("the Corral backend: %v", shared.err)
	}
	return shared.b, shared.langs
}

// newServer starts the service on the shared backend; edit changes its
// config first.
func newServer(t *testing.T, edit func(*service.Config)) *httptest.Server {
	t.Helper()
	b, langs := corralBackend(t)
	cfg := service.Config{
		Backend: b, Languages: langs, Defaults: defaults, Max: maxima, Compile: compile,
		MaxSource: 64 << 10, Concurrency: 4, Queue: 16,
		Logger: slog.New(slog.NewTextHandler(newTestLog(t), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// answer is POST /run's answer, decoded (and its raw body).
type answer struct {
	Code     int
	Body     string
	Header   http.Header
	Language string `json:"language"`
	Outcome  string `json:"outcome"`
	Compile  *step  `json:"compile"`
	Run      *step  `json:"run"`
	Error    string `json:"error"`
	Field    *string
}

// step is one step of an answer.
type step = api.Step

// post sends body (a string of JSON, or a value to encode) to POST /run.
func post(t *testing.T, ts *httptest.Server, body any, header ...string) *answer {
	t.Helper()
	var raw []byte
	if s, ok := body.(string); ok {
		raw = []byte(s)
	} else {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), "POST", ts.URL+"/run", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("POST /run: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := &answer{Code: resp.StatusCode, Body: string(b), Header: resp.Header}
	var f struct {
		Field *string `json:"field"`
	}
	if err := json.Unmarshal(b, a); err != nil {
		t.Fatalf("POST /run: %d, not JSON: %v: %s", resp.StatusCode, err, b)
	}
	json.Unmarshal(b, &f)
	a.Field = f.Field
	return a
}

// req is a POST /run body.
type req struct {
	Language string            `json:"language"`
	Source   *string           `json:"source,omitempty"`
	Files    map[string]string `json:"files,omitempty"`
	Stdin    string            `json:"stdin,omitempty"`
	Limits   map[string]int64  `json:"limits,omitempty"`
}

func src(s string) *string { return &s }

// requireLanguage skips (saying why) when name is not offered here.
func requireLanguage(t *testing.T, langs []*job.Language, name string) {
	t.Helper()
	if lang.Find(langs, name) == nil {
		tool := map[string]string{"sh": "sh", "python3": "python3", "c": "gcc", "cpp": "g++", "go": "go", "javascript": "node"}[name]
		testutil.RequireProgram(t, tool) // fails on CI, skips elsewhere
		t.Skipf("%s is installed but not where the sandbox sees it (/usr, /bin, /lib*)", tool)
	}
}

// testLog writes the server's warnings and errors to the test's log, so
// that a 500 says why; nothing once the test has ended (t.Log would panic).
type testLog struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func newTestLog(t *testing.T) *testLog {
	l := &testLog{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("server: %s", b)
	}
	return len(b), nil
}
