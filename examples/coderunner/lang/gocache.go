package lang

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// A Go build with an empty cache compiles the runtime and the packages it
// imports first: a minute of a loaded CPU for hello world. So the server
// seeds a cache once (SeedGoCache, on the host, building a fixed program
// of its own), binds it read-only into the sandboxes (Language.Binds) and
// each job's compile step copies it into its own writable GOCACHE: no job
// can change what another's build reads.

// seedName is the seeded cache's name in its directory; it appears only
// once complete (a rename).
const seedName = "gocache"

// seedProgram imports the packages most programs use.
const seedProgram = `package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

var _ = []any{bufio.NewReader, bytes.NewReader, errors.New, math.Abs, os.Exit, sort.Ints, strconv.Itoa, strings.Cut, sync.NewCond, time.Now}

func main() { fmt.Println("ok") }
`

// goEnv is the environment of go builds, the seed's and the jobs'.
var goEnv = []string{
	"GOROOT=" + GOROOT, "PATH=" + GOROOT + "/bin:/usr/bin:/bin",
	"CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOPROXY=off", "GOTELEMETRY=off",
}

// DefaultGoCacheDir is where the server keeps its seeded Go cache unless
// told otherwise: the user's cache directory.
func DefaultGoCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "corral-coderunner", "go")
}

// SeedGoCache fills dir with a seeded Go build cache, unless it holds one
// already. It takes a minute on a busy machine; Go jobs compile (slowly)
// without it meanwhile.
func SeedGoCache(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, seedName)); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lang: go cache: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, "seed-")
	if err != nil {
		return fmt.Errorf("lang: go cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "main.go"), []byte(seedProgram), 0o644); err != nil {
		return fmt.Errorf("lang: go cache: %w", err)
	}
	c := exec.CommandContext(ctx, GOROOT+"/bin/go", "build", "-o", filepath.Join(tmp, "prog"), "main.go")
	c.Dir = tmp
	c.Env = append([]string{"HOME=" + tmp, "GOCACHE=" + filepath.Join(tmp, seedName), "GOPATH=" + filepath.Join(tmp, "gopath")}, goEnv...)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("lang: go cache: go build: %w: %s", err, out)
	}
	if err := os.Rename(filepath.Join(tmp, seedName), filepath.Join(dir, seedName)); err != nil && !os.IsExist(err) {
		return fmt.Errorf("lang: go cache: %w", err)
	}
	return nil
}
