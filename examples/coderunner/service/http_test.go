package service_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
	"github.com/corral-dev/corral/examples/coderunner/service"
)

// TestBadInput sends requests the server must refuse with a 400 that
// names the field at fault, before anything runs.
func TestBadInput(t *testing.T) {
	// Only sh, as in the VM lane (busybox): the cases must not depend on
	// what else is installed.
	ts := newServer(t, func(c *service.Config) {
		sh := lang.Find(c.Languages, "sh")
		if sh == nil {
			t.Fatal("sh is not offered: /bin/sh missing?")
		}
		c.Languages = []*job.Language{sh}
	})
	big := strings.Repeat("x", 64<<10+1)
	deep := strings.Repeat("d/", 8) + "main.py"
	many := `{"language":"sh","files":{"main.sh":""`
	for i := range 65 {
		many += `,"f` + string(rune('a'+i%26)) + strings.Repeat("x", i) + `.py":""`
	}
	many += `}}`
	for _, c := range []struct {
		name, body, field, says string
	}{
		{"malformed JSON", `{"language": "python3", "source": `, "", "malformed JSON"},
		{"not an object", `[1, 2]`, "", "send a JSON object"},
		{"empty body", ``, "", "empty body"},
		{"trailing data", `{"language":"sh","source":"true"} {}`, "", "after the request object"},
		{"unknown field", `{"language":"sh","source":"true","sauce":1}`, "sauce", `unknown field "sauce"`},
		{"unknown limit", `{"language":"sh","source":"true","limits":{"disk_mb":1}}`, "disk_mb", "unknown field"},
		{"wrong type", `{"language":"sh","source":"true","limits":{"wall_ms":"5s"}}`, "limits.wall_ms", "expected int64"},
		{"no language", `{"source":"true"}`, "language", "language is required"},
		{"unknown language", `{"language":"cobol","source":"true"}`, "language", `unknown language "cobol"; this server offers: sh`},
		{"neither", `{"language":"sh"}`, "source", "is required"},
		{"both", `{"language":"sh","source":"true","files":{"main.sh":"true"}}`, "files", "not both"},
		{"empty files", `{"language":"sh","files":{}}`, "files", "files is empty"},
		{"source too big", `{"language":"sh","source":"` + big + `"}`, "source", "over the server's maximum"},
		{"files too big", `{"language":"sh","files":{"main.sh":"` + big + `"}}`, "files", "over the server's maximum"},
		{"stdin too big", `{"language":"sh","source":"true","stdin":"` + big + `"}`, "stdin", "over the server's maximum"},
		{"dot dot", `{"language":"sh","files":{"main.sh":"","../x":""}}`, `files["../x"]`, "escapes"},
		{"inner dot dot", `{"language":"sh","files":{"main.sh":"","a/../../x":""}}`, `files["a/../../x"]`, "escapes"},
		{"absolute", `{"language":"sh","files":{"main.sh":"","/etc/x":""}}`, `files["/etc/x"]`, "absolute"},
		{"empty name", `{"language":"sh","files":{"main.sh":"","":""}}`, `files[""]`, "empty"},
		{"NUL", `{"language":"sh","files":{"main.sh":"","a\u0000b":""}}`, `files["a\x00b"]`, "NUL"},
		{"unclean", `{"language":"sh","files":{"main.sh":"","a//b":""}}`, `files["a//b"]`, "not clean"},
		{"dot", `{"language":"sh","files":{"main.sh":"","./a":""}}`, `files["./a"]`, "not clean"},
		{"too deep", `{"language":"sh","files":{"main.sh":"","` + deep + `":""}}`, `files["` + deep + `"]`, "deep"},
		{"too many", many, "files", "over the maximum of 64"},
		{"file and dir", `{"language":"sh","files":{"main.sh":"","a":"","a/b":""}}`, `files["a"]`, "also the directory"},
		{"no main file", `{"language":"sh","files":{"lib.sh":""}}`, "files", "must hold main.sh"},
		{"wall over", `{"language":"sh","source":"true","limits":{"wall_ms":20001}}`, "limits.wall_ms", "over the server's maximum of 20000"},
		{"cpu over", `{"language":"sh","source":"true","limits":{"cpu_ms":10001}}`, "limits.cpu_ms", "maximum of 10000"},
		{"memory over", `{"language":"sh","source":"true","limits":{"memory_mb":4096}}`, "limits.memory_mb", "4096 is over the server's maximum of 512"},
		{"pids over", `{"language":"sh","source":"true","limits":{"pids":129}}`, "limits.pids", "maximum of 128"},
		{"output over", `{"language":"sh","source":"true","limits":{"output_kb":1025}}`, "limits.output_kb", "maximum of 1024"},
		{"negative", `{"language":"sh","source":"true","limits":{"memory_mb":-1}}`, "limits.memory_mb", "must be positive"},
		{"zero", `{"language":"sh","source":"true","limits":{"wall_ms":0}}`, "limits.wall_ms", "must be positive"},
		{"huge number", `{"language":"sh","source":"true","limits":{"wall_ms":1e30}}`, "limits.wall_ms", "expected int64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := post(t, ts, c.body)
			if a.Code != http.StatusBadRequest {
				t.Fatalf("%d %s: want 400", a.Code, a.Body)
			}
			if a.Field == nil || *a.Field != c.field {
				t.Errorf("field %q, want %q: %s", fieldOf(a), c.field, a.Body)
			}
			if !strings.Contains(a.Error, c.says) {
				t.Errorf("error %q does not say %q", a.Error, c.says)
			}
		})
	}
	// The control: a good request passes.
	if a := post(t, ts, `{"language":"sh","source":"echo ok","limits":{"wall_ms":20000,"memory_mb":512}}`); a.Code != 200 || a.Outcome != "ok" {
		t.Fatalf("control: %d %s", a.Code, a.Body)
	}
}

// TestBodyTooLarge: a body past the cap is refused without being read.
func TestBodyTooLarge(t *testing.T) {
	ts := newServer(t, nil)
	body := `{"language":"sh","source":"` + strings.Repeat("x", 8<<20) + `"}`
	a := post(t, ts, body)
	if a.Code != 400 || a.Field == nil || *a.Field != "" || !strings.Contains(a.Error, "request body is over") {
		t.Fatalf("%d %s", a.Code, a.Body[:min(len(a.Body), 300)])
	}
}

// TestQueueFull: with one slot and a queue of one, a third request while
// two sleep gets 429 with Retry-After; once they are done, one passes.
func TestQueueFull(t *testing.T) {
	ts := newServer(t, func(c *service.Config) { c.Concurrency, c.Queue = 1, 1 })
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = post(t, ts, req{Language: "sh", Source: src("sleep 2")}).Code
		}()
		// The first must be running before the second queues.
		want := []string{"coderunner_running 1", "coderunner_queue_depth 1"}[i]
		waitMetric(t, ts, want)
	}
	a := post(t, ts, req{Language: "sh", Source: src("true")})
	if a.Code != http.StatusTooManyRequests || a.Header.Get("Retry-After") == "" || a.Error != "queue full" {
		t.Errorf("third request: %d %q %s; want 429 with Retry-After", a.Code, a.Header.Get("Retry-After"), a.Body)
	}
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Errorf("the two first: %v, want 200 200", codes)
	}
	if a := post(t, ts, req{Language: "sh", Source: src("true")}); a.Code != 200 {
		t.Errorf("after the queue drained: %d %s", a.Code, a.Body)
	}
	waitMetric(t, ts, `coderunner_runs_total{language="sh",outcome="ok"} 3`)
}

// waitMetric waits until GET /metrics has the line want.
func waitMetric(t *testing.T, ts *httptest.Server, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		body = get(t, ts, "/metrics", nil).body
		for _, line := range strings.Split(body, "\n") {
			if line == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET /metrics never had %q:\n%s", want, body)
}

type got struct {
	code int
	body string
}

// get sends GET path with header.
func get(t *testing.T, ts *httptest.Server, path string, header http.Header) got {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return got{resp.StatusCode, string(b)}
}

// TestAuth: with a token, POST /run needs it; the compare is exact.
func TestAuth(t *testing.T) {
	ts := newServer(t, func(c *service.Config) { c.Token = "s3cret" })
	body := req{Language: "sh", Source: src("echo in")}
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Bearer s3cre"}, {"Authorization", "s3cret"}} {
		if a := post(t, ts, body, h...); a.Code != http.StatusUnauthorized || a.Error == "" {
			t.Errorf("%v: %d %s, want 401", h, a.Code, a.Body)
		}
	}
	if a := post(t, ts, body, "Authorization", "Bearer s3cret"); a.Code != 200 || a.Run.Stdout != "in\n" {
		t.Errorf("with the token: %d %s", a.Code, a.Body)
	}
	if g := get(t, ts, "/healthz", nil); g.code != 200 {
		t.Errorf("/healthz needs no token: %d", g.code)
	}
}

// TestRateLimit: at a rate of one request per 100 s (burst 1), a client's
// second request at once gets 429 and Retry-After.
func TestRateLimit(t *testing.T) {
	ts := newServer(t, func(c *service.Config) { c.Rate = 0.01 })
	body := req{Language: "sh", Source: src("true")}
	if a := post(t, ts, body); a.Code != 200 {
		t.Fatalf("first: %d %s", a.Code, a.Body)
	}
	a := post(t, ts, body)
	if a.Code != http.StatusTooManyRequests || a.Header.Get("Retry-After") == "" {
		t.Fatalf("second: %d %q %s, want 429 with Retry-After", a.Code, a.Header.Get("Retry-After"), a.Body)
	}
	// Without the limit the same burst passes (the control).
	ts = newServer(t, nil)
	for i := range 3 {
		if a := post(t, ts, body); a.Code != 200 {
			t.Fatalf("no rate limit, request %d: %d %s", i, a.Code, a.Body)
		}
	}
}

// switchable is a backend whose readiness the test sets.
type switchable struct {
	job.Backend
	ready atomic.Bool
}

func (s *switchable) Ready() bool { return s.ready.Load() }

// TestReadyz: /readyz follows the backend's warmth and turns 503 on Drain;
// the real backend becomes ready.
func TestReadyz(t *testing.T) {
	b, langs := corralBackend(t)
	sw := &switchable{Backend: b}
	srv, err := service.New(service.Config{Backend: sw, Languages: langs, Defaults: defaults, Max: maxima, Compile: compile, MaxSource: 1 << 10, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	if g := get(t, ts, "/readyz", nil); g.code != 503 || !strings.Contains(g.body, "not ready") {
		t.Errorf("cold: %d %s, want 503 not ready", g.code, g.body)
	}
	sw.ready.Store(true)
	if g := get(t, ts, "/readyz", nil); g.code != 200 {
		t.Errorf("warm: %d %s, want 200", g.code, g.body)
	}
	srv.Drain()
	if g := get(t, ts, "/readyz", nil); g.code != 503 || !strings.Contains(g.body, "shutting down") {
		t.Errorf("draining: %d %s, want 503 shutting down", g.code, g.body)
	}
	if a := post(t, ts, req{Language: "sh", Source: src("true")}); a.Code != 503 {
		t.Errorf("POST /run while draining: %d %s, want 503", a.Code, a.Body)
	}
	// The real backend fills its pools.
	deadline := time.Now().Add(2 * time.Minute)
	for !b.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("the Corral backend is not ready after 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts2 := newServer(t, nil)
	if g := get(t, ts2, "/readyz", nil); g.code != 200 {
		t.Errorf("real backend: %d %s", g.code, g.body)
	}
}

// TestLanguages lists what the server offers, with versions.
func TestLanguages(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	g := get(t, ts, "/languages", nil)
	if g.code != 200 {
		t.Fatalf("%d %s", g.code, g.body)
	}
	for _, l := range langs {
		if !strings.Contains(g.body, `"name":"`+l.Name+`"`) || l.Version == "" || l.Version == "unknown" {
			t.Errorf("%s (version %q) missing from %s", l.Name, l.Version, g.body)
		}
	}
	if len(langs) == 0 {
		t.Error("no language detected")
	}
}

// TestPanic: a handler's panic is answered 500 and the server goes on.
func TestPanic(t *testing.T) {
	ts := newServer(t, func(c *service.Config) {
		c.Web = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	})
	if g := get(t, ts, "/", nil); g.code != 500 || !strings.Contains(g.body, "internal error") {
		t.Errorf("GET / panicking: %d %s, want 500", g.code, g.body)
	}
	if g := get(t, ts, "/healthz", nil); g.code != 200 {
		t.Errorf("after the panic: /healthz %d", g.code)
	}
}

// fieldOf returns a 400's field, or "(none)".
func fieldOf(a *answer) string {
	if a.Field == nil {
		return "(none)"
	}
	return *a.Field
}

// TestRunMethod: GET /run is refused with 405, not served the page.
func TestRunMethod(t *testing.T) {
	ts := newServer(t, func(c *service.Config) {
		c.Web = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("page")) })
	})
	if g := get(t, ts, "/run", nil); g.code != http.StatusMethodNotAllowed || !strings.Contains(g.body, "use POST") {
		t.Errorf("GET /run: %d %s, want 405", g.code, g.body)
	}
	if g := get(t, ts, "/", nil); g.code != 200 || g.body != "page" {
		t.Errorf("GET /: %d %s, want the page", g.code, g.body)
	}
}

// TestCrossSite: POST /run takes application/json only (415 naming the
// header otherwise) and refuses a browser's request from another site
// (403); the controls, a same-origin page's and a plain client's, pass.
func TestCrossSite(t *testing.T) {
	ts := newServer(t, nil)
	body := req{Language: "sh", Source: src("echo ran")}
	for _, c := range []struct {
		name   string
		header []string
		code   int
		says   string
	}{
		{"no Content-Type", []string{"Content-Type", ""}, 415, "Content-Type: none"},
		{"a form's", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "Content-Type: application/x-www-form-urlencoded"},
		{"text/plain", []string{"Content-Type", "text/plain"}, 415, "application/json"},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, 403, "Sec-Fetch-Site: cross-site"},
		{"same-site fetch", []string{"Sec-Fetch-Site", "same-site"}, 403, "Sec-Fetch-Site"},
		{"foreign Origin", []string{"Origin", "http://evil.example"}, 403, "Origin: http://evil.example"},
		{"null Origin", []string{"Origin", "null"}, 403, "Origin"},
		{"a form from elsewhere", []string{"Content-Type", "text/plain", "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, "Sec-Fetch-Site"},
		// The controls.
		{"JSON with a charset", []string{"Content-Type", "application/json; charset=utf-8"}, 200, ""},
		{"same-origin page", []string{"Sec-Fetch-Site", "same-origin", "Origin", ts.URL}, 200, ""},
		{"typed URL", []string{"Sec-Fetch-Site", "none"}, 200, ""},
		{"plain client", nil, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := post(t, ts, body, c.header...)
			if a.Code != c.code || !strings.Contains(a.Error, c.says) {
				t.Fatalf("%d %s: want %d saying %q", a.Code, a.Body, c.code, c.says)
			}
			if c.code == 200 && (a.Run == nil || a.Run.Stdout != "ran\n") {
				t.Fatalf("%s: did not run", a.Body)
			}
		})
	}
}
