package service

import (
	"strings"
	"testing"

	"github.com/corral-dev/corral/examples/coderunner/job"
)

func TestCheckName(t *testing.T) {
	for _, c := range []struct{ name, says string }{
		{"main.py", ""},
		{"lib/util.py", ""},
		{".hidden", ""},
		{"a/b/c/d/e/f/g/h", ""},
		{"a/b/c/d/e/f/g/h/i", "deep"},
		{"", "empty"},
		{"..", "escapes"},
		{"../x", "escapes"},
		{"a/../b", "escapes"},
		{"/x", "absolute"},
		{"a//b", "not clean"},
		{"./a", "not clean"},
		{"a/", "not clean"},
		{"a/.", "not clean"},
		{"a\x00b", "NUL"},
		{"a\nb", "control"},
		{`a\b`, "backslash"},
		{"\xff", "UTF-8"},
		{"a-b_c.1.py", ""},
		{"lib/.x-y", ""},
		{"a b.c", `holds ' '`},
		{"a.c -wrapper sh,evil.sh b.c", `holds ' '`},
		{"*.go", `holds '*'`},
		{"a;b", `holds ';'`},
		{"$(x)", `holds '$'`},
		{"é.py", `holds 'é'`},
		{"-toolexec=x.go", `starting with "-"`},
		{"lib/-o", `starting with "-"`},
		{strings.Repeat("x", 256), "over 255"},
		{strings.Repeat("x/", 600), "over 1024"},
	} {
		got := checkName(c.name)
		if (c.says == "") != (got == "") || !strings.Contains(got, c.says) {
			t.Errorf("checkName(%q) = %q, want %q", c.name, got, c.says)
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	ok := &job.Step{}
	for _, c := range []struct {
		o    job.Outcome
		want string
	}{
		{job.Outcome{Run: ok}, outcomeOK},
		{job.Outcome{Compile: ok, Run: ok}, outcomeOK},
		{job.Outcome{Run: &job.Step{ExitCode: 1}}, outcomeNonzero},
		{job.Outcome{Run: &job.Step{ExitCode: -1, Signal: "segmentation fault"}}, outcomeNonzero},
		{job.Outcome{Run: &job.Step{ExitCode: -1, Limit: job.LimitMemory}}, outcomeLimit},
		{job.Outcome{Compile: &job.Step{ExitCode: 1}}, outcomeCompileError},
		{job.Outcome{Compile: &job.Step{ExitCode: -1, Limit: job.LimitWallTime}}, outcomeLimit},
		{job.Outcome{}, outcomeError},
	} {
		if got := outcomeOf(&c.o); got != c.want {
			t.Errorf("outcomeOf(%+v) = %q, want %q", c.o, got, c.want)
		}
	}
}
