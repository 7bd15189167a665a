package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/corral-dev/corral/internal/testutil"
)

// The browser tests drive Debian's chromium, headless, with chromedp. They
// need the chromium package (.ci/deps.sh installs it): without it they fail
// on CI and skip elsewhere, saying why (testutil.RequireProgram).

// actionTimeout bounds one step of a test (a page load, a run): generous,
// as the tests share a small machine with sandboxes being started.
const actionTimeout = 90 * time.Second

// syncBuffer is chromium's output, kept for a failing test's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// chromiumTemp is a temp dir for chromium's own files, removed when t ends.
func chromiumTemp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newBrowser starts a headless chromium for t, ended by t's cleanup, and
// returns the context of its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := testutil.RequireProgram(t, "chromium")
	home := t.TempDir() // chromium writes beneath HOME (~/.pki, caches): not the caller's
	out := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(filepath.Join(home, "profile")),
		chromedp.Env("HOME="+home),
		// Its own temp files (org.chromium.Chromium.*) too, which it
		// leaves behind in TMPDIR otherwise: in a directory of their own
		// right in TMPDIR, not beneath t.TempDir, whose long path makes
		// chromium's socket path too long for a unix socket.
		chromedp.Env("TMPDIR="+chromiumTemp(t)),
		chromedp.WindowSize(1024, 768),
		chromedp.CombinedOutput(out),
	)
	if os.Geteuid() == 0 {
		// As root chromium will not start with its own sandbox on
		// ("Running as root without --no-sandbox is not supported"): that
		// sandbox (namespaces and seccomp around its renderers) is made for
		// an unprivileged user. The pages it renders here are the test's
		// own, so as root the test turns it off. As uid 65534
		// (run-as-nobody) chromium keeps it; TestChromiumSandbox checks both.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // kills chromium and waits for it
		if t.Failed() {
			t.Logf("chromium's output:\n%s", out.String())
		}
	})
	// The first action starts the browser; it has no timeout of its own,
	// which would end the browser with it.
	start := make(chan error, 1)
	go func() { start <- chromedp.Do(ctx) }()
	select {
	case err := <-start:
		if err != nil {
			t.Fatalf("starting %s: %v\n%s", path, err, out.String())
		}
	case <-time.After(actionTimeout):
		t.Fatalf("%s did not start within %v:\n%s", path, actionTimeout, out.String())
	}
	return ctx
}

// do runs actions in the tab, failing t on error.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page, failing t on error.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %.80q: %v", expr, err)
	}
	return v
}

// openPage loads the playground at url and waits for its languages.
func openPage(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	do(t, ctx, "opening "+url, chromedp.Navigate(url), chromedp.WaitEnabled(chromedp.ID("run")))
}

// shown is what the page shows of a run. Compile, Stdout and Stderr are
// nil where their box is hidden.
type shown struct {
	Status  string  `json:"status"`
	Kind    string  `json:"kind"` // the status's class: ok, error, limit, busy
	Facts   string  `json:"facts"`
	Compile *string `json:"compile"`
	Stdout  *string `json:"stdout"`
	Stderr  *string `json:"stderr"`
	Runs    int     `json:"runs"`
}

const readShown = `(() => {
  const $ = (id) => document.getElementById(id);
  const box = (b, p) => ($(b).hidden ? null : $(p).textContent);
  return {status: $("status").textContent, kind: $("status").className, facts: $("facts").textContent,
    compile: box("compile-box", "compile-output"), stdout: box("stdout-box", "stdout"),
    stderr: box("stderr-box", "stderr"), runs: Number($("result").dataset.runs || 0)};
})()`

// program is what a test types into the page.
type program struct {
	language, source, stdin string
	limits                  map[string]string // input id -> value; the others are emptied
	ctrlEnter               bool              // run with Ctrl+Enter instead of the button
	typed                   bool              // type source key by key (else set it)
}

// runProgram fills the page in as a user would and runs the program, then
// waits for the run to end and returns what the page shows.
func runProgram(t *testing.T, ctx context.Context, p program) shown {
	t.Helper()
	do(t, ctx, "choosing "+p.language, chromedp.SetValue(chromedp.ID("language"), p.language))
	// The fields are set by script, not chromedp.SetValue, which sends an
	// empty value as undefined (the textarea then reads "undefined").
	values := map[string]string{"source": p.source, "stdin": p.stdin}
	if p.typed {
		values["source"] = ""
	}
	for _, id := range []string{"wall_ms", "cpu_ms", "memory_mb", "pids", "output_kb"} {
		values[id] = p.limits[id]
	}
	js, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	if bad := eval[string](t, ctx, fmt.Sprintf(`((values) => {
  for (const [id, v] of Object.entries(values)) {
    const e = document.getElementById(id);
    e.value = v;
    e.dispatchEvent(new Event("input", {bubbles: true}));
    if (e.value !== v) return id;
  }
  return "";
})(%s)`, js)); bad != "" {
		t.Fatalf("could not fill %s in", bad)
	}
	if p.typed {
		// Key by key, as a user types: Tab goes through the editor's handler.
		do(t, ctx, "typing the program", chromedp.SendKeys(chromedp.ID("source"), p.source))
		want := strings.ReplaceAll(p.source, "\t", "    ")
		if got := eval[string](t, ctx, `document.getElementById("source").value`); got != want {
			t.Fatalf("typed %q, the editor holds %q; want %q", p.source, got, want)
		}
	}
	before := eval[shown](t, ctx, readShown).Runs
	if p.ctrlEnter {
		do(t, ctx, "pressing Ctrl+Enter", chromedp.Focus(chromedp.ID("source")),
			chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	} else {
		do(t, ctx, "clicking Run", chromedp.Click(chromedp.ID("run")))
	}
	pctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	ended := fmt.Sprintf(`Number(document.getElementById("result").dataset.runs || 0) > %d`, before)
	if _, err := chromedp.Run(pctx, chromedp.Poll[bool](ended, chromedp.WithPollingTimeout(actionTimeout))); err != nil {
		t.Fatalf("waiting for the run to end: %v (the page shows %+v)", err, eval[shown](t, ctx, readShown))
	}
	return eval[shown](t, ctx, readShown)
}

// str is a *string's text for messages: "<hidden>" for nil.
func str(s *string) string {
	if s == nil {
		return "<hidden>"
	}
	return fmt.Sprintf("%q", *s)
}

// TestChromiumSandbox checks what newBrowser's comment says: as root
// chromium runs without its sandbox (chrome://sandbox says so, which is
// also the control that the check can fail), and as any other user, uid
// 65534 in run-as-nobody's lane, with it.
func TestChromiumSandbox(t *testing.T) {
	ctx := newBrowser(t)
	do(t, ctx, "opening chrome://sandbox", chromedp.Navigate("chrome://sandbox"))
	text := eval[string](t, ctx, `document.body.innerText`)
	want := "You are adequately sandboxed."
	if os.Geteuid() == 0 {
		want = "You are NOT adequately sandboxed."
	}
	if !strings.Contains(text, want) {
		t.Errorf("uid %d: chrome://sandbox does not say %q:\n%s", os.Geteuid(), want, text)
	}
}
