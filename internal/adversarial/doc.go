// Package adversarial is Corral's pentest-style suite: escape attempts run
// inside default sandboxes, host faults injected around them, and a soak of
// mixed runs, each case asserting why it held. It has only tests; its
// TestMain prints one line of figures:
//
//	escapes tried N, held N; faults N, leaks 0; soak runs N, failures 0
//
// Run it with go test ./internal/adversarial (make test runs it as root,
// rootless and in the cgroup-v2 VM); make soak runs the full 10,000-run soak.
package adversarial
