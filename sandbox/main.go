package sandbox

import (
	"os"
	"runtime"

	"github.com/corral-dev/corral/internal/protocol"
)

// mainCalled records that Main ran in this process, so Run can tell a
// program that forgot it instead of starting a child that would run main.
var mainCalled bool

// Main must be the first call in the program's main function (and in
// TestMain for tests): Run re-executes the program's own binary as the
// sandbox's init, and Main is where that copy takes over. In the normal
// program Main returns at once; in the sandbox's init it never returns.
func Main() {
	mainCalled = true
	if os.Getenv(protocol.EnvProbe) != "" {
		os.Exit(0)
	}
	if fd := os.Getenv(protocol.EnvMarker); fd != "" {
		os.Exit(runInit(fd))
	}
}

func init() {
	if os.Getenv(protocol.EnvMarker) != "" {
		// In the sandbox's init only: keep main on the main thread, whose
		// name is what /proc/1/comm and ps show.
		runtime.LockOSThread()
	}
	probeUserns = func() error {
		if !mainCalled {
			return nil // cannot re-exec safely; the sysctls have to do
		}
		return protocol.ProbeCommand().Run()
	}
}
