package backend

import (
	"context"

	"github.com/corral-dev/corral/examples/coderunner/job"
)

// NewCorralPrewarm is NewCorral with prewarm in place of the pool's
// Prewarm.
func NewCorralPrewarm(cfg Config, prewarm func(context.Context) error) (job.Backend, error) {
	return newCorral(cfg, prewarm)
}

// PooledBoxes returns how many Boxes the Corral backend b took from its
// pool.
func PooledBoxes(b job.Backend) int64 { return b.(*corral).pooled.Load() }
