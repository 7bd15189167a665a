// Package pid1 is the sandbox's init: pid 1 of the sandbox's namespaces.
// It runs in the host's own binary, re-executed by the host (package
// sandbox) with the marker in its environment (protocol.Marker): the
// program's package inits run as usual, then sandbox.Main, the first call
// of its main, hands over to Main here, which never comes back to the
// program's main. The init builds the sandbox from the host's Spec, starts
// each command the host sends, reports how it ended, and kills what it
// leaves; when it exits, the kernel kills everything left in the sandbox.
// The init of a live sandbox (Spec.Live, the host's sandbox.Box, live.go)
// instead starts each command as it comes while others run, reports each
// one's end by its run id, and kills nothing until it exits itself.
//
// life.go holds its whole life, in order, as one list of named steps; the
// steps themselves are small functions in the other files (build.go,
// launcher.go, start.go, run.go, live.go, reuse.go, renew.go, signals.go), and the
// work is done by the isolate package's primitives. The steps run on three
// kinds of thread:
//
//   - the main thread, locked to main from this package's init until the
//     init has named itself (what ps and /proc/1/comm show);
//   - any thread: the set-up on main's goroutine, and the goroutines that
//     forward signals and read the host's socket. None of them is ever
//     confined: the init keeps the power to build, reset and kill;
//   - the launcher thread, locked for the init's whole life: it confines
//     itself (capabilities, Landlock scopes, the seccomp filter, a blocked
//     signal mask) and then runs every run from it, so that each command
//     inherits that confinement from its fork, and nothing else of the init
//     runs confined.
//
// It lives in internal/ because it is no API: a host program uses
// sandbox.Main, and the wire it speaks is internal/protocol's. A small
// init binary built from this module (an init that does not carry a big
// host program's packages and their package inits) can import it.
//
// Some of the init's own steps use system calls directly rather than
// isolate's primitives, because nothing but an init needs them: renewing
// a reused sandbox's namespaces (renew.go), reaping and killing what a run
// left (run.go), and the launcher's signal mask (signals.go).
package pid1
