package protocol

import "strings"

// EnvInitQuery, set in its environment, makes a separate init binary
// (sandbox/corral-init) print InitQueryAnswer of its protocol version and
// exit: how the host learns that a binary named as its init is one, and
// speaks this protocol, before it boots a sandbox with it.
const EnvInitQuery = "CORRAL_INIT_QUERY"

const initQueryPrefix = "corral-init protocol "

// InitQueryAnswer is the line an init prints for EnvInitQuery.
func InitQueryAnswer(version string) string { return initQueryPrefix + version }

// ParseInitQueryAnswer returns the version in an init's answer, and false
// when out is not an answer at all.
func ParseInitQueryAnswer(out string) (version string, ok bool) {
	return strings.CutPrefix(strings.TrimSpace(out), initQueryPrefix)
}
