// Package paths holds the two small string rules that the host side
// (package sandbox) and the steps inside the sandbox (package isolate) both
// apply, so that the two cannot come to disagree: whether a path lies
// beneath a directory, and what an environment sets a variable to.
//
// It is an internal package rather than exported from isolate: neither rule
// is a step of a sandbox's set-up, and callers of isolate have the standard
// library for both.
package paths

import "strings"

// Beneath reports whether p is strictly beneath dir. Both are clean paths
// of the same kind (both absolute or both relative); "/" holds every other
// absolute path.
func Beneath(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}

// Lookup returns the value env (a list of "KEY=value", as execve takes it)
// gives key, and whether it sets key at all. When env sets key more than
// once, the last one counts.
func Lookup(env []string, key string) (string, bool) {
	var value string
	var found bool
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key); ok && strings.HasPrefix(v, "=") {
			value, found = v[1:], true
		}
	}
	return value, found
}
