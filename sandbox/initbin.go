package sandbox

// A separate init binary (Options.Init): checking that it is one, of this
// version, before any sandbox boots with it.

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
)

const (
	modulePath  = "github.com/corral-dev/corral"
	initPackage = modulePath + "/sandbox/corral-init"
)

// InitBuild is the command that builds the init Options.Init names, run in
// the host program's module so that the corral version is the one its
// go.mod requires. CGO_ENABLED=0: the init needs no libseccomp (the host
// compiles the filter); -trimpath and -ldflags=-s make it smaller.
const InitBuild = "CGO_ENABLED=0 go build -trimpath -ldflags=-s -o corral-init " + initPackage

// initPath is the binary the sandbox's init starts from.
func (s *Sandbox) initPath() string {
	if s.opts.Init != "" {
		return s.opts.Init
	}
	return "/proc/self/exe"
}

// initChecks remembers the verdict per file (path, size, change time): a
// program makes many Sandboxes with the same init. A verdict is nil, an
// error, or the query of the binary (queryInit), run once.
var initChecks sync.Map

type initKey struct {
	path  string
	size  int64
	ctime time.Time
}

// validateInit checks Options.Init: an absolute path to an executable
// file, built from package corral-init of the corral module at the same
// version as this program (its build information, when both sides have
// one), and speaking this protocol version (asked of the binary itself,
// which also covers builds whose versions read "(devel)").
//
// The question to the binary is an exec of it, a few milliseconds: it is
// not asked here but returned as query, which New starts in the background
// and a sandbox's boot awaits once its init is starting (startInit), as it
// does the filter's compilation. Where the build information decides,
// query is nil.
func validateInit(path string) (query func() error, err error) {
	bad := func(reason string) error {
		return &OptionError{"Options.Init", path, reason + "; rebuild it in this program's module with: " + InitBuild}
	}
	if !filepath.IsAbs(path) {
		return nil, &OptionError{"Options.Init", path, "must be an absolute path (to the binary that " + InitBuild + " makes)"}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, bad("cannot be used: " + err.Error())
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return nil, bad("is not an executable file")
	}
	key := initKey{path, fi.Size(), fi.ModTime()}
	v, ok := initChecks.Load(key)
	if !ok {
		decided, err := checkInitBuild(path, bad)
		switch {
		case err != nil:
			v = err
		case !decided:
			v = sync.OnceValue(func() error { return queryInit(path, bad) })
		}
		v, _ = initChecks.LoadOrStore(key, v)
	}
	switch v := v.(type) {
	case error:
		return nil, v
	case func() error:
		return v, nil
	}
	return nil, nil
}

// checkInitBuild checks the binary's build information: decided is true
// when it proves the binary this corral version's init.
func checkInitBuild(path string, bad func(string) error) (decided bool, err error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return false, bad("is not a corral init (no Go build information: " + err.Error() + ")")
	}
	if bi.Path != initPackage {
		return false, bad(fmt.Sprintf("is not a corral init (it is %q, not %s)", bi.Path, initPackage))
	}
	if host, ok := debug.ReadBuildInfo(); ok {
		same, err := sameCorral(host, bi)
		if err != nil {
			return false, bad(err.Error())
		}
		return same, nil // the same release, or the same clean revision: the same protocol
	}
	return false, nil
}

// queryInit asks the binary its protocol version.
func queryInit(path string, bad func(string) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = []string{protocol.EnvInitQuery + "=1"}
	out, err := cmd.Output()
	v, ok := protocol.ParseInitQueryAnswer(string(out))
	if err != nil || !ok {
		return bad(fmt.Sprintf("is not a corral init (asked its protocol version, it answered %q, %v)", bytes.TrimSpace(out), err))
	}
	if v != strconv.Itoa(protocol.Version) {
		return bad(fmt.Sprintf("speaks protocol version %s, this program %d: it was built from another corral version", v, protocol.Version))
	}
	return nil
}

// sameCorral compares the corral module both binaries were built from: its
// version and checksum, or for development builds the version-control
// revision when both carry one. same is true when that proves them one
// version; unknown on either side (a local replace, an unstamped or a
// modified development build) is neither: the protocol version check,
// which asks the binary, then decides.
func sameCorral(host, init *debug.BuildInfo) (same bool, err error) {
	h, hrev := corralModule(host)
	i, irev := corralModule(init)
	if h == nil || i == nil {
		return false, nil
	}
	if h.Version != "(devel)" && i.Version != "(devel)" && h.Version != "" && i.Version != "" {
		if h.Version != i.Version || h.Sum != "" && i.Sum != "" && h.Sum != i.Sum {
			return false, fmt.Errorf("was built from corral %s %s, this program from %s %s", i.Version, i.Sum, h.Version, h.Sum)
		}
		return h.Sum != "" && i.Sum != "", nil
	}
	if hrev != "" && irev != "" {
		if hrev != irev {
			return false, fmt.Errorf("was built from corral revision %s, this program from %s", irev, hrev)
		}
		return !strings.HasSuffix(hrev, "+modified"), nil
	}
	return false, nil
}

// corralModule returns the corral module in bi (main module or a
// dependency, replaced or not), and the vcs revision (with "+modified")
// when corral is the main module and the build was stamped.
func corralModule(bi *debug.BuildInfo) (*debug.Module, string) {
	if bi.Main.Path == modulePath {
		rev, modified := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
		if rev != "" {
			rev += modified
		}
		return &bi.Main, rev
	}
	for _, m := range bi.Deps {
		if m.Path == modulePath {
			if m.Replace != nil {
				return m.Replace, ""
			}
			return m, ""
		}
	}
	return nil, ""
}

// canBoot reports whether this Sandbox can start an init: with
// Options.Init always, otherwise only when the program called Main.
func (s *Sandbox) canBoot() bool { return mainCalled || s.opts.Init != "" }
