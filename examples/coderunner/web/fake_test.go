package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/corral-dev/corral/examples/coderunner/web"
)

// fakeAPI answers GET /languages and POST /run as the service's contract
// says, with canned answers chosen by the program's source: the page's
// handling of answers the real server gives rarely (429, a dropped
// connection) or only on some hosts, tested without sandboxes.
type fakeAPI struct {
	mu   sync.Mutex
	last map[string]any // the last /run request's JSON
}

const okStep = `{"exit_code": 0, "signal": "", "limit": "", "oom_killed": false, "wall_ms": 12.4, "cpu_ms": 8.1,
  "memory_peak_bytes": 3670016, "stdout": "hi from the fake\n", "stderr": "", "stdout_truncated": false, "stderr_truncated": false}`

// answers maps a source to the fake's answer: status, Retry-After, body.
var answers = map[string]struct {
	status     int
	retryAfter string
	body       string
}{
	"ok":      {200, "", `{"language": "python3", "outcome": "ok", "compile": null, "run": ` + okStep + `}`},
	"markup":  {200, "", `{"language": "python3", "outcome": "ok", "compile": null, "run": {"exit_code": 0, "wall_ms": 1, "cpu_ms": 1, "memory_peak_bytes": 0, "stdout": "<b id=\"injected\">bold</b>", "stderr": ""}}`},
	"nonzero": {200, "", `{"language": "sh", "outcome": "nonzero", "compile": null, "run": {"exit_code": 3, "wall_ms": 2, "cpu_ms": 1, "memory_peak_bytes": 1048576, "stdout": "", "stderr": "oops\n"}}`},
	"memory": {200, "", `{"language": "python3", "outcome": "limit", "compile": null, "run": {"exit_code": -1, "signal": "killed", "limit": "memory", "oom_killed": true,
	  "wall_ms": 300, "cpu_ms": 250, "memory_peak_bytes": 67108864, "stdout": "", "stderr": ""}}`},
	"compile": {200, "", `{"language": "c", "outcome": "compile_error", "compile": {"exit_code": 1, "wall_ms": 40, "cpu_ms": 30, "memory_peak_bytes": 20971520,
	  "stdout": "", "stderr": "main.c:1:1: error: unknown type name 'nope'\n"}, "run": null}`},
	"compiled": {200, "", `{"language": "c", "outcome": "ok", "compile": {"exit_code": 0, "wall_ms": 1520, "cpu_ms": 634, "memory_peak_bytes": 67528294,
	  "stdout": "", "stderr": "main.c:3: warning: unused variable\n"}, "run": ` + okStep + `}`},
	"toobig":   {400, "", `{"error": "limits.memory_mb: 4096 is over the server's maximum of 512", "field": "limits.memory_mb"}`},
	"empty":    {400, "", `{"error": "source: empty; send the program's text in \"source\" or \"files\"", "field": "source"}`},
	"busy":     {429, "7", `{"error": "queue full"}`},
	"token":    {401, "", `{"error": "missing bearer token"}`},
	"draining": {503, "", `{"error": "shutting down"}`},
	"crash":    {500, "", `{"error": "backend: sandbox failed"}`},
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "GET" && r.URL.Path == "/languages":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[{"name": "sh", "version": "dash 0.5.12", "compiled": false},
		  {"name": "python3", "version": "Python 3.11.2", "compiled": false},
		  {"name": "c", "version": "gcc 12.2.0", "compiled": true}]`))
	case r.Method == "POST" && r.URL.Path == "/run":
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error": "bad JSON"}`, 400)
			return
		}
		f.mu.Lock()
		f.last = req
		f.mu.Unlock()
		src, _ := req["source"].(string)
		if src == "drop" { // the connection ends without an answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		a, ok := answers[src]
		if !ok {
			a = answers["empty"]
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	default:
		web.Handler().ServeHTTP(w, r)
	}
}

func (f *fakeAPI) lastRequest() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// TestPageAgainstFake runs the page in chromium against fakeAPI: what it
// sends, and what it shows for each kind of answer.
func TestPageAgainstFake(t *testing.T) {
	fake := &fakeAPI{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := newBrowser(t)
	openPage(t, ctx, srv.URL)

	t.Run("languages", func(t *testing.T) {
		opts := eval[[]string](t, ctx, `[...document.querySelectorAll("#language option")].map((o) => o.textContent)`)
		want := []string{"sh \u2014 dash 0.5.12", "python3 \u2014 Python 3.11.2", "c \u2014 gcc 12.2.0"}
		if strings.Join(opts, "|") != strings.Join(want, "|") {
			t.Errorf("options %q, want %q", opts, want)
		}
		if sel := eval[string](t, ctx, `document.getElementById("language").value`); sel != "python3" {
			t.Errorf("selected %q, want python3 by default", sel)
		}
		if src := eval[string](t, ctx, `document.getElementById("source").value`); src != "print(\"Hello, world!\")\n" {
			t.Errorf("python3's template %q", src)
		}
	})

	t.Run("drafts", func(t *testing.T) {
		// Each language keeps its own draft; an untouched one shows its template.
		got := eval[[]string](t, ctx, `(() => {
  const s = document.getElementById("language"), src = document.getElementById("source");
  const pick = (l) => { s.value = l; s.dispatchEvent(new Event("change")); return src.value; };
  const out = [pick("c")];
  src.value = "int main(void) { return 1; }";
  out.push(pick("sh"), pick("c"));
  return out;
})()`)
		if len(got) != 3 || !strings.Contains(got[0], "#include <stdio.h>") || got[1] != "echo \"Hello, world!\"\n" || got[2] != "int main(void) { return 1; }" {
			t.Errorf("c template, sh template, c draft: %q", got)
		}
	})

	t.Run("tab", func(t *testing.T) {
		// Tab inserts four spaces at the cursor; Esc then Tab leaves the editor.
		do(t, ctx, "typing", chromedp.SetValue(chromedp.ID("source"), "ab"), chromedp.Focus(chromedp.ID("source")),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("source").setSelectionRange(1, 1)`),
			chromedp.KeyEvent("\t"))
		if v := eval[string](t, ctx, `document.getElementById("source").value`); v != "a    b" {
			t.Errorf("after Tab: %q, want %q", v, "a    b")
		}
		do(t, ctx, "leaving", chromedp.KeyEvent(string(rune(0x1b))), chromedp.KeyEvent("\t"))
		if id := eval[string](t, ctx, `document.activeElement.id`); id == "source" {
			t.Errorf("Esc, Tab: focus stayed in the editor")
		}
	})

	cases := []struct {
		name                 string
		p                    program
		status, kind, facts  string
		compile, stdout, err *string
	}{
		{name: "ok", p: program{language: "python3", source: "ok", stdin: "some input\n", limits: map[string]string{"memory_mb": "64", "wall_ms": "1500"}, ctrlEnter: true},
			status: "Finished: exit code 0", kind: "ok", facts: "Run: exit code 0, 12 ms wall, 8 ms CPU, 3.5 MB peak memory",
			stdout: ptr("hi from the fake\n")},
		{name: "markup is text", p: program{language: "python3", source: "markup"},
			status: "Finished: exit code 0", kind: "ok", facts: "Run: exit code 0, 1 ms wall, 1 ms CPU, peak memory unknown",
			stdout: ptr(`<b id="injected">bold</b>`)},
		{name: "nonzero", p: program{language: "sh", source: "nonzero"},
			status: "Program failed: exit code 3", kind: "error", facts: "Run: exit code 3, 2 ms wall, 1 ms CPU, 1.0 MB peak memory",
			err: ptr("oops\n")},
		{name: "memory limit", p: program{language: "python3", source: "memory", limits: map[string]string{"memory_mb": "64"}},
			status: "Memory limit exceeded (64 MB)", kind: "limit", facts: "Run: ended by signal: killed, 300 ms wall, 250 ms CPU, 64.0 MB peak memory"},
		{name: "memory limit by default", p: program{language: "python3", source: "memory"},
			status: "Memory limit exceeded (the server's default)", kind: "limit", facts: "Run: ended by signal: killed, 300 ms wall, 250 ms CPU, 64.0 MB peak memory"},
		{name: "compile error", p: program{language: "c", source: "compile"},
			status: "Compile error: exit code 1", kind: "error", facts: "Compile: exit code 1, 40 ms wall, 30 ms CPU, 20.0 MB peak memory",
			compile: ptr("main.c:1:1: error: unknown type name 'nope'\n")},
		{name: "compiled", p: program{language: "c", source: "compiled"},
			status: "Finished: exit code 0", kind: "ok",
			facts:   "Compile: exit code 0, 1.52 s wall, 634 ms CPU, 64.4 MB peak memory\nRun: exit code 0, 12 ms wall, 8 ms CPU, 3.5 MB peak memory",
			compile: ptr("main.c:3: warning: unused variable\n"), stdout: ptr("hi from the fake\n")},
		{name: "400", p: program{language: "python3", source: "toobig", limits: map[string]string{"memory_mb": "4096"}},
			status: "Request rejected: limits.memory_mb: 4096 is over the server's maximum of 512", kind: "error"},
		{name: "429", p: program{language: "python3", source: "busy"},
			status: "Server busy, retry in 7 s", kind: "error"},
		{name: "401", p: program{language: "python3", source: "token"},
			status: "Not authorized: missing bearer token (set the bearer token under \u201cInput, limits and token\u201d)", kind: "error"},
		{name: "503", p: program{language: "python3", source: "draining"},
			status: "Server unavailable: shutting down", kind: "error"},
		{name: "500", p: program{language: "python3", source: "crash"},
			status: "Server error (500): backend: sandbox failed", kind: "error"},
		{name: "network failure", p: program{language: "python3", source: "drop"},
			status: "Could not reach the server: Failed to fetch", kind: "error"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := runProgram(t, ctx, tt.p)
			if got.Status != tt.status || got.Kind != tt.kind {
				t.Errorf("status %q (%s), want %q (%s)", got.Status, got.Kind, tt.status, tt.kind)
			}
			if got.Facts != tt.facts {
				t.Errorf("facts %q, want %q", got.Facts, tt.facts)
			}
			if str(got.Compile) != str(tt.compile) || str(got.Stdout) != str(tt.stdout) || str(got.Stderr) != str(tt.err) {
				t.Errorf("compile output %s, stdout %s, stderr %s; want %s, %s, %s",
					str(got.Compile), str(got.Stdout), str(got.Stderr), str(tt.compile), str(tt.stdout), str(tt.err))
			}
			if tt.name == "markup is text" && eval[bool](t, ctx, `document.getElementById("injected") !== null`) {
				t.Errorf("the program's output became markup")
			}
		})
	}

	t.Run("request", func(t *testing.T) {
		// What the page sends: the limits as numbers, the empty ones left
		// out for the server's defaults.
		runProgram(t, ctx, program{language: "python3", source: "ok", stdin: "in\n", limits: map[string]string{"memory_mb": "64", "wall_ms": "1500"}})
		req, _ := json.Marshal(fake.lastRequest())
		want := `{"language":"python3","limits":{"memory_mb":64,"wall_ms":1500},"source":"ok","stdin":"in\n"}`
		if string(req) != want {
			t.Errorf("the page sent %s, want %s", req, want)
		}
	})
}

// TestPageAccessible checks what a screen reader and a narrow window
// need: every control has a label, the result is announced, and nothing
// is wider than a 320-pixel screen.
func TestPageAccessible(t *testing.T) {
	srv := httptest.NewServer(&fakeAPI{})
	defer srv.Close()
	ctx := newBrowser(t)
	openPage(t, ctx, srv.URL)

	unlabelled := eval[[]string](t, ctx, `[...document.querySelectorAll("input, select, textarea, button")]
  .filter((e) => e.labels.length === 0 && !e.textContent.trim()).map((e) => e.id || e.outerHTML)`)
	if len(unlabelled) > 0 {
		t.Errorf("controls without a label: %q", unlabelled)
	}
	live := eval[[]string](t, ctx, `["status", "facts"].map((id) => {
  const e = document.getElementById(id);
  return e.getAttribute("role") + "/" + e.getAttribute("aria-live");
})`)
	if strings.Join(live, " ") != "status/polite null/polite" {
		t.Errorf("live regions (role/aria-live of #status, #facts): %q", live)
	}

	for _, width := range []int64{320, 1024} {
		do(t, ctx, "resizing", chromedp.EmulateViewport(width, 640))
		// Show everything, output included, at its widest.
		runProgram(t, ctx, program{language: "python3", source: "ok"})
		got := eval[[]int](t, ctx, `(() => {
  document.querySelector("details").open = true;
  document.getElementById("stdout").textContent = "x".repeat(500);
  return [document.documentElement.scrollWidth, window.innerWidth];
})()`)
		if len(got) != 2 || got[1] != int(width) || got[0] > got[1] {
			t.Errorf("at %d px: page width, window width %v: the page scrolls sideways", width, got)
		}
	}
	// The control: a page wider than the window is seen as one.
	got := eval[[]int](t, ctx, `(() => {
  const d = document.createElement("div");
  d.style.width = "2000px";
  d.textContent = "wide";
  document.body.append(d);
  return [document.documentElement.scrollWidth, window.innerWidth];
})()`)
	if len(got) != 2 || got[0] <= got[1] {
		t.Errorf("a 2000-pixel element: page width, window width %v; the check above cannot fail", got)
	}
}

func ptr(s string) *string { return &s }
