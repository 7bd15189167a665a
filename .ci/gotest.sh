#!/usr/bin/env bash
# gotest.sh [GO TEST FLAGS...]: go test ./... with the adversarial suite's
# figures shown. go test hides a passing package's output, so that package
# runs verbose, filtered down to what matters: failures with their logs,
# skips with their reasons, and its closing line of figures. The sandbox
# package runs twice more with CORRAL_TEST_POOL=1 and =reuse: warm runs.
set -uo pipefail
go=${GO:-go}
# On CI a test that cannot create sandboxes fails instead of skipping: the
# project's own tests look at CI (internal/testutil/require.go), and
# sandbox/sandboxtest, made for other projects' suites too, at its own
# CORRAL_REQUIRE_SANDBOX (see its package documentation), set here.
# run-as-nobody passes CORRAL_* on.
if [[ -n ${CI:-} ]]; then
	export CORRAL_REQUIRE_SANDBOX=${CORRAL_REQUIRE_SANDBOX:-1}
fi
# The small init (sandbox/corral-init), built once here for the tests of
# Options.Init (CORRAL_TEST_INIT): as uid 65534 (go test -exec
# run-as-nobody, which passes CORRAL_* on) go build would lack a module
# cache; the directory is readable by every lane.
if [[ -z ${CORRAL_TEST_INIT:-} ]]; then
	initdir=$(mktemp -d)
	chmod 755 "$initdir"
	trap 'rm -rf "$initdir"' EXIT
	CGO_ENABLED=0 "$go" build -trimpath -ldflags=-s -o "$initdir/corral-init" ./sandbox/corral-init || exit 1
	export CORRAL_TEST_INIT=$initdir/corral-init
fi
rc=0
mapfile -t pkgs < <("$go" list ./... | grep -v '/internal/adversarial$')
"$go" test -count=1 -timeout 10m "$@" "${pkgs[@]}" || rc=1
# The sandbox package again, every run taken from a warm pool, then from
# a pool of reused sandboxes.
for mode in 1 reuse; do
	echo "CORRAL_TEST_POOL=$mode go test ./sandbox (every run from a pool)"
	CORRAL_TEST_POOL=$mode "$go" test -count=1 -timeout 10m "$@" ./sandbox || rc=1
done
"$go" test -count=1 -timeout 10m -v "$@" ./internal/adversarial 2>&1 |
	grep -vE '^(=== (RUN|PAUSE|CONT|NAME)|\s*--- PASS)'
[[ ${PIPESTATUS[0]} -eq 0 ]] || rc=1
exit $rc
