package sandbox

import (
	"strconv"

	"github.com/corral-dev/corral/isolate"
)

// LandlockMode says whether the command is also confined by Landlock, a
// second filesystem layer under the mounts: rules derived from them let it
// read and execute everywhere it can see, write only to its writable mounts,
// and use only its device nodes, even if a mount were subverted.
type LandlockMode int

const (
	// LandlockAuto uses Landlock where the kernel has it; where it does not,
	// Result.Degraded says so.
	LandlockAuto LandlockMode = iota
	// LandlockOff does not use Landlock.
	LandlockOff
	// LandlockRequired makes Run fail with a *FeatureError where the kernel
	// lacks Landlock.
	LandlockRequired
)

func (m LandlockMode) String() string {
	switch m {
	case LandlockAuto:
		return "auto"
	case LandlockOff:
		return "off"
	case LandlockRequired:
		return "required"
	}
	return "LandlockMode(" + strconv.Itoa(int(m)) + ")"
}

// landlock returns the rules the init applies, or nil, and what was weakened.
func (s *Sandbox) landlock() ([]isolate.LandlockRule, string, error) {
	if s.opts.Landlock == LandlockOff {
		return nil, "", nil
	}
	if isolate.LandlockABI() == 0 {
		f, _ := Check().Feature("landlock")
		if s.opts.Landlock == LandlockRequired {
			return nil, "", &FeatureError{Feature: "landlock", Reason: f.Detail, Fix: f.Fix + "; or use LandlockAuto"}
		}
		return nil, "landlock: not available (" + f.Detail + "); the mounts alone confine the filesystem", nil
	}
	return isolate.LandlockRules(s.mounts), "", nil
}
