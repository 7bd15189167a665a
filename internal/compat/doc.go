// Package compat holds tests only: real programs (compilers, runtimes,
// debuggers, sanitizers, version control) run in the default sandbox the way
// a user runs them, each judged against what the same program does on the
// host. Where a program is missing, a test says so (testutil.RequireProgram)
// and .ci/deps.sh installs it for CI.
package compat
