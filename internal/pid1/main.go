package pid1

import (
	"errors"
	"os"
	"runtime"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
)

// Main is where a re-executed binary becomes the sandbox's init. In a
// binary that is not one (no marker in its environment) it returns at
// once, with isInit false. Otherwise it returns only when the init is done,
// with the code the process must exit with: the probe (protocol.EnvProbe)
// at once with 0, the init when its sandbox ends.
//
// The probe is pid 1 of the new namespaces protocol.ProbeCommand makes. A
// process that is not pid 1 is not the probe, whatever its environment
// says: EnvProbe left in the environment of a program run as root must not
// make it change its (the host's) mount namespace, as the overlay probe
// does. Such a process goes on as the program it is (isInit false).
func Main() (code int, isInit bool) {
	if v := os.Getenv(protocol.EnvProbe); v != "" && os.Getpid() == 1 {
		if v == protocol.ProbeOverlay {
			if err := isolate.ProbeOverlay(); err != nil {
				os.Stderr.WriteString(err.Error())
				if errors.Is(err, isolate.ErrOverlayNoXattr) {
					return protocol.OverlayNoXattr, true
				}
				return protocol.OverlayRefused, true
			}
		}
		return 0, true
	}
	if fd := os.Getenv(protocol.EnvMarker); fd != "" {
		return life(fd), true
	}
	return 0, false
}

func init() {
	if os.Getenv(protocol.EnvMarker) != "" {
		// In the sandbox's init only: keep main on the main thread, whose
		// name is what /proc/1/comm and ps show.
		runtime.LockOSThread()
	}
}
