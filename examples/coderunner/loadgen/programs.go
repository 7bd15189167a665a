package main

// The programs the load generator sends, and what each answer must be.

import (
	"fmt"
	"github.com/corral-dev/corral/examples/coderunner/api"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Kinds of program, for the outcome counts.
const (
	kindNormal       = "normal"
	kindCompileError = "compile_error"
	kindBomb         = "bomb"
)

// runRequest is POST /run's body.
type runRequest struct {
	Language string  `json:"language"`
	Source   string  `json:"source"`
	Stdin    string  `json:"stdin,omitempty"`
	Limits   *limits `json:"limits,omitempty"`
}

type limits struct {
	WallMS   int `json:"wall_ms,omitempty"`
	CPUMS    int `json:"cpu_ms,omitempty"`
	MemoryMB int `json:"memory_mb,omitempty"`
	Pids     int `json:"pids,omitempty"`
	OutputKB int `json:"output_kb,omitempty"`
}

// runResponse is POST /run's answer, and step one of its steps.
type (
	runResponse = api.Response
	step        = api.Step
)

// A program is one kind of request: make builds a request (with fresh
// input) and the check of its answer, which returns "" when the answer is
// right and else what is wrong with it.
type program struct {
	name, kind, language string
	weight               int // relative frequency in the mixed mode
	make                 func(r *rand.Rand) (runRequest, func(*runResponse) string)
}

// echoDouble programs read n and print 2n: an answer with another
// request's number in it would show a mix-up between requests.
var echoDouble = map[string]string{
	"sh":         `read n; echo $((n * 2))`,
	"python3":    "import sys\nprint(int(sys.stdin.read()) * 2)",
	"javascript": "const n = Number(require('fs').readFileSync(0, 'utf8'));\nconsole.log(n * 2);",
	"c":          "#include <stdio.h>\nint main(void) { long n; if (scanf(\"%ld\", &n) != 1) return 1; printf(\"%ld\\n\", n * 2); return 0; }",
	"cpp":        "#include <iostream>\nint main() { long n; std::cin >> n; std::cout << n * 2 << std::endl; }",
	"go":         "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tvar n int\n\tfmt.Scan(&n)\n\tfmt.Println(n * 2)\n}\n",
}

// compileErrors are programs their compiler rejects.
var compileErrors = map[string]string{
	"c":   "int main(void) { return undeclared_name; }",
	"cpp": "int main() { return undeclared_name; }",
	"go":  "package main\n\nfunc main() { undeclaredName() }\n",
}

// helloProgram is the target: python3 hello world, default limits.
var helloProgram = program{name: "python3 hello", kind: kindNormal, language: "python3", weight: 1,
	make: func(*rand.Rand) (runRequest, func(*runResponse) string) {
		return runRequest{Language: "python3", Source: `print("hello, world")`}, wantStdout("hello, world\n")
	}}

// wantStdout checks an answer that ran fine and printed want.
func wantStdout(want string) func(*runResponse) string {
	return func(a *runResponse) string {
		if a.Outcome != "ok" || a.Run == nil || a.Run.Stdout != want {
			return fmt.Sprintf("want outcome ok, stdout %q; got %s", want, describe(a))
		}
		return ""
	}
}

// wantLimit checks that the run step ended at limit.
func wantLimit(limit string) func(*runResponse) string {
	return func(a *runResponse) string {
		if a.Outcome != "limit" || a.Run == nil || a.Run.Limit != limit {
			return fmt.Sprintf("want outcome limit, limit %q; got %s", limit, describe(a))
		}
		return ""
	}
}

func describe(a *runResponse) string {
	s := "outcome " + a.Outcome
	for _, st := range []struct {
		name string
		s    *step
	}{{"compile", a.Compile}, {"run", a.Run}} {
		if st.s != nil {
			s += fmt.Sprintf(", %s: exit %d signal %q limit %q stdout %.80q stderr %.200q", st.name,
				st.s.ExitCode, st.s.Signal, st.s.Limit, st.s.Stdout, st.s.Stderr)
		}
	}
	return s
}

// bombLimits are the limits bombs run under: small, so that a bomb costs
// the server little, and a wall time roomy enough that the CPU bomb meets
// its CPU limit first on a loaded machine.
var bombLimits = limits{WallMS: 10000, CPUMS: 1000, MemoryMB: 64, Pids: 16, OutputKB: 16}

// programs returns the mixed mode's programs for the languages offered.
// marker goes into the sleep bomb's command line, for the leak check.
func programs(offered []string, marker string) []program {
	var ps []program
	has := map[string]bool{}
	for _, l := range offered {
		has[l] = true
	}
	for _, l := range offered {
		src, ok := echoDouble[l]
		if !ok {
			continue
		}
		w := 10
		if l == "go" {
			w = 2 // a go build is a second of CPU even with a warm cache
		}
		ps = append(ps, program{name: l + " echo", kind: kindNormal, language: l, weight: w,
			make: func(r *rand.Rand) (runRequest, func(*runResponse) string) {
				n := r.IntN(1_000_000)
				return runRequest{Language: l, Source: src, Stdin: strconv.Itoa(n) + "\n"},
					wantStdout(strconv.Itoa(2*n) + "\n")
			}})
		if src, ok := compileErrors[l]; ok {
			ps = append(ps, program{name: l + " compile error", kind: kindCompileError, language: l, weight: 1,
				make: func(*rand.Rand) (runRequest, func(*runResponse) string) {
					return runRequest{Language: l, Source: src}, func(a *runResponse) string {
						if a.Outcome != "compile_error" || a.Compile == nil || a.Run != nil ||
							!strings.Contains(strings.ToLower(a.Compile.Stderr), "undeclared") {
							return "want outcome compile_error naming the undeclared name; got " + describe(a)
						}
						return ""
					}
				}})
		}
	}
	bomb := func(name, lang, src string, check func(*runResponse) string) {
		if !has[lang] {
			return
		}
		l := bombLimits
		if name == "sleep bomb" {
			l.WallMS = 1000
		}
		ps = append(ps, program{name: name, kind: kindBomb, language: lang, weight: 1,
			make: func(*rand.Rand) (runRequest, func(*runResponse) string) {
				return runRequest{Language: lang, Source: src, Limits: &l}, check
			}})
	}
	bomb("memory bomb", "python3", "x = []\nwhile True:\n    x.append(b'x' * (1 << 20))\n", wantLimit("memory"))
	bomb("cpu bomb", "python3", "while True:\n    pass\n", wantLimit("cpu_time"))
	bomb("output bomb", "python3", "while True:\n    print('x' * 1000)\n", func(a *runResponse) string {
		if e := wantLimit("output")(a); e != "" {
			return e
		}
		if !a.Run.StdoutTruncated || len(a.Run.Stdout) != bombLimits.OutputKB<<10 {
			return fmt.Sprintf("want %d bytes of stdout kept, truncated; got %d (truncated %v)",
				bombLimits.OutputKB<<10, len(a.Run.Stdout), a.Run.StdoutTruncated)
		}
		return ""
	})
	bomb("sleep bomb", "sh", "sleep 60."+marker+"\n", wantLimit("wall_time"))
	// Forks sleeping children until a fork fails: under a pids limit of
	// 16, fewer than 16 start. It may instead be ended by the limit.
	bomb("fork bomb", "python3", `import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError:
    print("forks failed after", n, flush=True)
    os._exit(0)
`, func(a *runResponse) string {
		if a.Outcome == "limit" && a.Run != nil && a.Run.Limit == "pids" {
			return ""
		}
		var n int
		if a.Outcome == "ok" && a.Run != nil {
			if _, err := fmt.Sscanf(a.Run.Stdout, "forks failed after %d", &n); err == nil && n < bombLimits.Pids {
				return ""
			}
		}
		return fmt.Sprintf("want forks to fail before %d processes (or limit pids); got %s", bombLimits.Pids, describe(a))
	})
	return ps
}

// picker picks programs at random by weight.
type picker struct {
	ps    []program
	total int
}

func newPicker(ps []program) *picker {
	p := &picker{ps: ps}
	for _, x := range ps {
		p.total += x.weight
	}
	return p
}

func (p *picker) pick(r *rand.Rand) *program {
	n := r.IntN(p.total)
	for i := range p.ps {
		if n < p.ps[i].weight {
			return &p.ps[i]
		}
		n -= p.ps[i].weight
	}
	panic("unreachable")
}
