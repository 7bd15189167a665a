package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/lang"
)

// marker is what an injected command prints; the requests' files spell
// it so that it is not in them ("PWN" "ED").
const marker = "PWNED"

// TestFileNameInjection: file names crafted to become a compiler's
// options (gcc -wrapper, go build -toolexec) make the injected command
// run nowhere: the answer is a 400 naming the file, or a compile error,
// and never carries what the command prints. A control runs the same
// script by name, to show it would be seen.
func TestFileNameInjection(t *testing.T) {
	ts := newServer(t, nil)
	_, langs := corralBackend(t)
	evil := `printf 'PWN%sED\n' '' >&2; printf 'PWN%sED\n' '' > /work/out/pwned; exec "$@"`
	check := "#include <stdio.h>\nint main(void){ FILE *f = fopen(\"pwned\", \"r\"); puts(f ? \"PWN\" \"ED\" : \"clean\"); return 0; }\n"
	for _, c := range []struct {
		name, language string
		files          map[string]string
		field          string
	}{
		{"gcc -wrapper", "c", map[string]string{"main.c": check, "evil.sh": evil, "a.c -wrapper sh,evil.sh b.c": ""}, `files["a.c -wrapper sh,evil.sh b.c"]`},
		{"go -toolexec", "go", map[string]string{"main.go": "package main\n\nfunc main() { println(\"clean\") }\n", "s": evil, "-toolexec=sh s .go": ""}, `files["-toolexec=sh s .go"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			requireLanguage(t, langs, c.language)
			if c.language == "go" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				if err := lang.SeedGoCache(ctx, goCache); err != nil {
					t.Logf("go cache not seeded (the build will be slow): %v", err)
				}
			}
			a := post(t, ts, req{Language: c.language, Files: c.files})
			if strings.Contains(a.Body, marker) {
				t.Fatalf("the injected command ran: %d %s", a.Code, a.Body)
			}
			switch {
			case a.Code == 400:
				if fieldOf(a) != c.field {
					t.Errorf("400 naming %s, want %s: %s", fieldOf(a), c.field, a.Body)
				}
			case a.Code == 200 && a.Outcome == "compile_error":
			case a.Code == 200 && a.Outcome == "ok" && a.Run.Stdout == "clean\n":
			default:
				t.Errorf("%d %s: want a 400, a compile error or a clean run", a.Code, a.Body)
			}
		})
	}
	// The control: the same script, run on purpose, is seen in the answer.
	requireLanguage(t, langs, "sh")
	a := post(t, ts, req{Language: "sh", Source: src("mkdir -p /work/out; set -- true; " + evil)})
	if a.Code != 200 || !strings.Contains(a.Run.Stderr, marker) {
		t.Fatalf("control: %d %s: want %s on stderr", a.Code, a.Body, marker)
	}
}
