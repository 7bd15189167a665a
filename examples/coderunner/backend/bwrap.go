package backend

import (
	"errors"

	"github.com/corral-dev/corral/examples/coderunner/job"
)

// NewBwrap returns the bubblewrap backend.
func NewBwrap(cfg Config) (job.Backend, error) {
	return nil, errors.New("backend: bwrap: not built yet")
}
