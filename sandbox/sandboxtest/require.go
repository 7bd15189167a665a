package sandboxtest

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/corral-dev/corral/sandbox"
)

// EnvRequire is the environment variable that turns skips for a missing
// host feature into failures: set it to 1 (any value that
// strconv.ParseBool reads as true) on CI runners that must run the
// sandboxes. See the package documentation for why it is not CI.
const EnvRequire = "CORRAL_REQUIRE_SANDBOX"

// check is sandbox.Check; the tests replace it to fake a host.
var check = sandbox.Check

// Require skips t, or fails it where EnvRequire is set, unless this host
// has every feature a sandbox needs (those sandbox.Check marks Required)
// and the optional ones named in features, as sandbox.Check names them
// ("cgroups", "landlock", "overlay", ...). The message
// names each missing feature with what Check found and the fix. A name
// Check does not know fails the test.
//
// Note that Check judges cgroups for the caller's own cgroup: a sandbox
// given Options.CgroupParent may have a cgroup where Check says there is
// none. Run, Start and Output need no feature named: a run that fails for
// want of a feature skips (or fails) the same way, with the sandbox's own
// *sandbox.FeatureError.
func Require(t testing.TB, features ...string) {
	t.Helper()
	report := check()
	var missing []string
	for _, f := range report.Features {
		if f.Required && !f.Available {
			missing = append(missing, describe(f))
		}
	}
	for _, name := range features {
		f, ok := report.Feature(name)
		switch {
		case !ok:
			var known []string
			for _, f := range report.Features {
				known = append(known, strconv.Quote(f.Name))
			}
			t.Fatalf("sandboxtest.Require: no feature %q; sandbox.Check knows %s", name, strings.Join(known, ", "))
		case !f.Available && !f.Required:
			missing = append(missing, describe(f))
		}
	}
	if len(missing) > 0 {
		skipOrFail(t, "this host lacks what the sandbox needs: "+strings.Join(missing, "; "))
	}
}

func describe(f sandbox.Feature) string {
	s := f.Name + " (" + f.Detail + ")"
	if f.Fix != "" {
		s += ", fix: " + f.Fix
	}
	return s
}

// required reports whether EnvRequire asks for failures instead of skips.
func required() bool {
	v := os.Getenv(EnvRequire)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return b || err != nil // a value that is set but not a boolean asks too
}

// skipOrFail skips t with msg, or fails it where EnvRequire is set.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if required() {
		t.Fatalf("sandboxtest: %s (%s is set: failing instead of skipping)", msg, EnvRequire)
	}
	t.Skipf("sandboxtest: %s (set %s=1 to fail instead of skipping)", msg, EnvRequire)
}
