package backend

import "github.com/corral-dev/corral/examples/coderunner/job"

// PooledBoxes returns how many Boxes the Corral backend b took from its
// pool.
func PooledBoxes(b job.Backend) int64 { return b.(*corral).pooled.Load() }
