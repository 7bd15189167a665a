// Package lang is the code runner's table of languages: how a program in
// each is compiled and run inside a sandbox, and which are installed here
// (Detect), with the version their toolchain reports.
package lang

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
)

// Dirs inside the sandbox: a compiled language's sources are copied to
// SrcDir and compiled there into OutDir; the run step starts in OutDir.
// An interpreted language's files go to RunDir.
const (
	SrcDir = "/work/src"
	OutDir = "/work/out"
	RunDir = "/work"
	// Program is the compile step's output, in OutDir.
	Program = "prog"
)

// GOROOT is where Go is looked for; it is under /usr, which the sandbox
// binds read-only, so it needs no bind of its own.
const GOROOT = "/usr/local/go"

// entry is one language of the table: what to check for and how to learn
// its version.
type entry struct {
	lang    job.Language
	tool    string   // the toolchain binary that must exist
	version []string // argv printing the version on its first line
	prefix  string   // put before that line when it lacks the name
}

// table lists every language the code runner knows, installed or not.
func table(goCache string) []entry {
	out := OutDir + "/" + Program
	var seed string
	var binds []string
	if goCache != "" {
		seed = "[ -d " + goCache + "/" + seedName + " ] && cp -r " + goCache + "/" + seedName + " /tmp/gocache; "
		binds = []string{goCache}
	}
	return []entry{
		{
			lang: job.Language{Name: "sh", Source: "main.sh", Run: []string{"/bin/sh", "main.sh"}},
			// dash has no --version; dpkg names the package's version.
			tool: "/bin/sh", version: []string{"/usr/bin/dpkg-query", "-W", "-f=${Package} ${Version}", "dash"},
			prefix: "",
		},
		{
			lang: job.Language{Name: "python3", Source: "main.py", Run: []string{"/usr/bin/python3", "main.py"},
				Env: []string{"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"}},
			tool: "/usr/bin/python3", version: []string{"/usr/bin/python3", "--version"},
		},
		{
			lang: job.Language{Name: "javascript", Source: "main.js", Run: []string{"/usr/bin/node", "main.js"}},
			tool: "/usr/bin/node", version: []string{"/usr/bin/node", "--version"}, prefix: "Node.js ",
		},
		{
			lang: job.Language{Name: "c", Source: "main.c",
				Compile: compileEach(`-name '*.c'`, "/usr/bin/gcc -O2 -pipe -o "+out, "-lm", ".c"),
				Run:     []string{"./" + Program}},
			tool: "/usr/bin/gcc", version: []string{"/usr/bin/gcc", "--version"},
		},
		{
			lang: job.Language{Name: "cpp", Source: "main.cpp",
				Compile: compileEach(`-name '*.cpp' -o -name '*.cc'`, "/usr/bin/g++ -O2 -pipe -o "+out, "", ".cpp or .cc"),
				Run:     []string{"./" + Program}},
			tool: "/usr/bin/g++", version: []string{"/usr/bin/g++", "--version"},
		},
		{
			lang: job.Language{Name: "go", Source: "main.go",
				// With a go.mod the request is a module; without one, it
				// is given one (module prog). Either way the package "."
				// is built: no file name reaches go's command line. The
				// seeded cache (gocache.go), when there is one, is copied
				// first.
				Compile: []string{"/bin/sh", "-c", seed + `if [ ! -f go.mod ]; then m=$(go mod init prog 2>&1) || { echo "$m" >&2; exit 1; }; fi; exec go build -o ` + out + ` .`},
				Run:     []string{"./" + Program},
				Env:     append([]string{"HOME=/tmp/home", "GOCACHE=/tmp/gocache", "GOPATH=/tmp/gopath"}, goEnv...),
				Binds:   binds,
			},
			tool: GOROOT + "/bin/go", version: []string{GOROOT + "/bin/go", "version"},
		},
	}
}

// compileEach is a compile step that runs compiler "files... tail" on
// every file find's predicate pred matches in the work dir, or fails
// saying no file ends in exts. The names reach the compiler as find gives
// them, "./name", each one argument, through "$@": none is split, globbed
// or read as an option, whatever it holds.
func compileEach(pred, compiler, tail, exts string) []string {
	files := `find . -type f \( ` + pred + ` \)`
	return []string{"/bin/sh", "-c",
		`if [ -z "$(` + files + ` | head -n 1)" ]; then echo "no ` + exts + ` file to compile" >&2; exit 1; fi; ` +
			`exec ` + files + ` -exec /bin/sh -c 'exec ` + compiler + ` "$@" ` + tail + `' compile {} +`}
}

// visible are the host directories the default sandbox shows: a
// toolchain elsewhere is not offered.
var visible = []string{"/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/etc/"}

// Visible reports whether the host path p, symlinks resolved, lies in a
// directory the sandbox shows.
func Visible(p string) bool {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	for _, d := range visible {
		if strings.HasPrefix(real, d) {
			return true
		}
	}
	return false
}

// Detect returns the languages whose toolchain is installed here, at a
// path the sandbox sees, each with its version, in the table's order.
// goCache is the directory of the seeded Go cache (SeedGoCache), bound
// read-only into Go's sandboxes; "" for none. It must exist.
func Detect(goCache string) []*job.Language {
	var langs []*job.Language
	for _, e := range table(goCache) {
		st, err := os.Stat(e.tool)
		if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 || !Visible(e.tool) {
			continue
		}
		l := e.lang
		l.Version = version(e)
		langs = append(langs, &l)
	}
	return langs
}

// All returns every language of the table, installed or not, without
// versions: for tests that say which are missing.
func All() []*job.Language {
	var langs []*job.Language
	for _, e := range table("") {
		l := e.lang
		langs = append(langs, &l)
	}
	return langs
}

// version runs the toolchain's version command and keeps its first line.
func version(e entry) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, e.version[0], e.version[1:]...)
	c.Env = []string{"PATH=/usr/bin:/bin", "GOROOT=" + GOROOT, "HOME=/nonexistent", "GOTELEMETRY=off"}
	out, err := c.Output()
	if err != nil {
		if real, err := filepath.EvalSymlinks(e.tool); err == nil {
			return filepath.Base(real) // dash, busybox: the shell at least
		}
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return e.prefix + strings.TrimSpace(line)
}

// Find returns the language named name from langs, or nil.
func Find(langs []*job.Language, name string) *job.Language {
	for _, l := range langs {
		if l.Name == name {
			return l
		}
	}
	return nil
}
