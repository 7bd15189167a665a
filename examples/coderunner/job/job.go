// Package job is what the code runner's HTTP service and its backends
// share: a request to compile and run a program (Job), what came of it
// (Outcome), and the Backend that runs it in a sandbox.
package job

import (
	"context"
	"errors"
	"time"
)

// Language is a toolchain the server offers: how a program in it is
// compiled (if at all) and run. The service detects which are installed.
type Language struct {
	Name    string // the request's "language": sh, python3, c, cpp, go, javascript
	Version string // the toolchain's own version line, for GET /languages
	Source  string // the file a request's "source" is written to, in the work dir
	// Compile is the compile step's argv, run in the work dir; nil means
	// the language has no compile step.
	Compile []string
	Run     []string // the run step's argv, run in the work dir
	Env     []string // extra environment of both steps (KEY=value)
	// Binds are host directories the toolchain needs beyond the sandbox's
	// default view of the host's system directories, bound read-only.
	Binds []string
}

// Limits bound one step of a job.
type Limits struct {
	WallTime time.Duration
	CPUTime  time.Duration
	Memory   int64 // bytes
	Pids     int
	Output   int64 // bytes kept of stdout, and of stderr
}

// Job is one request: its files (relative, clean paths within the work
// dir, already validated), its stdin, and the limits of each step.
type Job struct {
	Language *Language
	Files    map[string][]byte
	Stdin    []byte
	Compile  Limits // the compile step's, when the language has one
	Run      Limits
}

// Limit names, in Step.Limit: which limit ended a step.
const (
	LimitWallTime = "wall_time"
	LimitCPUTime  = "cpu_time"
	LimitMemory   = "memory"
	LimitPids     = "pids"
	LimitOutput   = "output"
)

// Step is what came of one step (compile or run): the sandbox's Result,
// and its output, capped at Limits.Output.
type Step struct {
	ExitCode        int    // -1 when a signal ended it
	Signal          string // the signal's name ("killed"), or ""
	Limit           string // which limit ended it (Limit*), or ""
	OOMKilled       bool
	WallTime        time.Duration
	CPUTime         time.Duration
	MemoryPeak      int64 // bytes; 0 where the host cannot tell
	Stdout, Stderr  []byte
	StdoutTruncated bool
	StderrTruncated bool
}

// Success reports whether the step exited 0 within its limits.
func (s *Step) Success() bool { return s != nil && s.ExitCode == 0 && s.Limit == "" }

// Outcome is a job's result. Compile is nil without a compile step; Run is
// nil when the compile step did not succeed.
type Outcome struct {
	Compile *Step
	Run     *Step
}

// ErrBusy is returned by a Backend that cannot take one more job now.
var ErrBusy = errors.New("job: backend busy")

// Backend runs jobs, each in a sandbox of its own: its compile and run
// steps in the same sandbox, the run step seeing only what the compile
// step produced, and nothing of any other job.
type Backend interface {
	// Name names the backend: "corral" or "bwrap".
	Name() string
	// Run runs j. An error means the backend failed (not the program):
	// the service answers 500. ctx's end kills the job's processes.
	Run(ctx context.Context, j *Job) (*Outcome, error)
	// Ready reports whether the backend is warm: its pool filled.
	Ready() bool
	// Close ends every sandbox the backend holds and waits for them.
	Close() error
}
