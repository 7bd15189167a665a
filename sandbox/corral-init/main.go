// Corral-init is the sandbox's init (pid 1) on its own: a small binary for
// host programs too big to re-execute themselves cheaply. A host program
// names it in sandbox.Options.Init; its sandboxes then start this binary
// instead of the program's own, and skip the program's package inits and
// its cgo loading on every cold start, and hold less memory while pooled.
//
// Build it in the host program's module, so that it comes from the same
// corral version as the program (go.mod's requirement picks it):
//
//	CGO_ENABLED=0 go build -trimpath -ldflags=-s -o corral-init github.com/corral-dev/corral/sandbox/corral-init
//
// Started by hand, it says what it is and exits with status 2.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/corral-dev/corral/internal/pid1"
	"github.com/corral-dev/corral/internal/protocol"
)

// reportVersion, when set with -ldflags=-X main.reportVersion=N, is the
// protocol version the binary reports to the host's check in place of its
// own: how the tests build a mismatched init. It changes nothing else.
var reportVersion string

func main() {
	if os.Getenv(protocol.EnvInitQuery) != "" {
		v := reportVersion
		if v == "" {
			v = strconv.Itoa(protocol.Version)
		}
		fmt.Println(protocol.InitQueryAnswer(v))
		os.Exit(0)
	}
	if code, isInit := pid1.Main(); isInit {
		os.Exit(code)
	}
	fmt.Fprint(os.Stderr, `corral-init is the init (pid 1) of corral sandboxes, started by a host
program that names it in sandbox.Options.Init; it is not run by hand.
Build it in the host program's module, from the same corral version:

	CGO_ENABLED=0 go build -trimpath -ldflags=-s -o corral-init github.com/corral-dev/corral/sandbox/corral-init
`)
	os.Exit(2)
}
