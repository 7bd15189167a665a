// Package backend holds the code runner's two backends: Corral (the
// library, with a warm pool) and bubblewrap (a bwrap process per step, the
// way runners are often built today), for the side-by-side load test.
package backend

// Config is what both backends take from the server's flags.
type Config struct {
	Pool  int  // sandboxes kept warm (Corral); 0: none
	Reuse bool // reset and reuse sandboxes between jobs (Corral)
}
