package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/corral-dev/corral/examples/coderunner/web"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	tests := []struct {
		path, method string
		status       int
		contentType  string // prefix
		contains     string
	}{
		{"/", "GET", 200, "text/html", `<script src="/static/app.js"`},
		{"/static/app.js", "GET", 200, "text/javascript", "async function run()"},
		{"/static/style.css", "GET", 200, "text/css", "#status"},
		{"/static/index.html", "GET", 301, "", ""}, // the file server's redirect to "./"
		{"/nope", "GET", 404, "", ""},
		{"/static/nope.js", "GET", 404, "", ""},
		{"/static/", "GET", 404, "", ""}, // no listing
		{"/web.go", "GET", 404, "", ""},  // only the embedded directory is served
		{"/", "POST", 405, "", ""},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %q...", ct, tt.contentType)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q:\n%.300s", tt.contains, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q, want default-src 'self'", csp)
			}
		})
	}
}

// TestOffline checks that the page loads nothing from another origin, so
// that it works without network: no absolute URL in a src, href or url(),
// nor any fetch of one. (The CSP header would block them anyway; this
// catches them before a user sees a broken page.)
func TestOffline(t *testing.T) {
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?\s*(https?:)?//|fetch\(\s*["'\x60]\s*(https?:)?//|@import`)
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	for _, path := range []string{"/", "/static/app.js", "/static/style.css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("%s: status %d, %d bytes", path, resp.StatusCode, len(body))
		}
		if m := external.Find(body); m != nil {
			t.Errorf("%s loads from another origin: %q", path, m)
		}
	}
	// The control: the pattern finds what it is there to find.
	for _, bad := range []string{`<script src="https://cdn.example/x.js">`, `<link href=//cdn.example/x.css>`, `url("http://x/y.png")`, `fetch("https://x/run")`} {
		if !external.MatchString(bad) {
			t.Errorf("the pattern misses %q", bad)
		}
	}
}
