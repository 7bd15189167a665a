// Package backend holds the code runner's two backends: Corral (the
// library, with a warm pool) and bubblewrap (a bwrap process per step, the
// way runners are often built today), for the side-by-side load test.
package backend

import (
	"log/slog"

	"github.com/corral-dev/corral/examples/coderunner/job"
)

// Config is what both backends take from the server's flags.
type Config struct {
	Pool  int  // sandboxes kept warm (Corral); 0: none
	Reuse bool // reset and reuse sandboxes between jobs (Corral)

	// Run and Compile are the limits most jobs have (the server's
	// defaults): the warm pool is built for them, and a job with other
	// limits gets a sandbox booted for it (Corral).
	Run, Compile job.Limits
	// CgroupParent is where sandboxes' cgroups go (sandbox.Options);
	// empty: beneath the server's own cgroup.
	CgroupParent string
	// Init is a corral-init binary the sandboxes boot from
	// (sandbox.Options.Init): this server re-executing itself costs each
	// fresh sandbox its own start (a 17 MB binary's package inits); empty:
	// the self re-exec.
	Init string
	// Binds are host directories the languages need (job.Language.Binds),
	// bound read-only at the same path into every sandbox.
	Binds []string
	// Logger gets what the backend does on its own (a pool that fails to
	// fill and is retried); nil: nothing is logged.
	Logger *slog.Logger
}
