package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/corral-dev/corral/internal/pid1"
	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
)

// mainCalled records that Main ran in this process, so Run can tell a
// program that forgot it instead of starting a child that would run main.
var mainCalled bool

// Main must be the first call in the program's main function (and in
// TestMain for tests): Run re-executes the program's own binary as the
// sandbox's init, and Main is where that copy takes over (package pid1).
// In the normal program Main returns at once; in the sandbox's init it
// never returns.
func Main() {
	mainCalled = true
	if code, isInit := pid1.Main(); isInit {
		os.Exit(code)
	}
}

func init() {
	probeUserns = func() error {
		if !mainCalled {
			return nil // cannot re-exec safely; the sysctls have to do
		}
		return protocol.ProbeCommand().Run()
	}
	probeOverlay = func() error {
		var stderr strings.Builder
		c := protocol.OverlayProbeCommand()
		c.Stderr = &stderr
		err := c.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee) && ee.ExitCode() == protocol.OverlayRefused:
			return errors.New(stderr.String())
		case errors.As(err, &ee) && ee.ExitCode() == protocol.OverlayNoXattr:
			return fmt.Errorf("%w (%s)", isolate.ErrOverlayNoXattr, stderr.String())
		}
		return err
	}
}
