// Package api is the code runner's HTTP JSON API, as Go types: the body of
// POST /run and its answer, GET /languages' entries and the errors. The
// service serves them; clients (the load generator, the tests, a program
// of yours) decode them.
package api

// Request is POST /run's body. Exactly one of Source and Files is set.
type Request struct {
	Language string            `json:"language"`
	Source   *string           `json:"source,omitempty"` // written to the language's source file
	Files    map[string]string `json:"files,omitempty"`  // relative names: [A-Za-z0-9._/-], no element starting with '-'
	Stdin    string            `json:"stdin,omitempty"`
	Limits   *Limits           `json:"limits,omitempty"`
}

// Limits are a request's limits; nil fields take the server's defaults,
// and none may exceed its maxima.
type Limits struct {
	WallMS   *int64 `json:"wall_ms,omitempty"`
	CPUMS    *int64 `json:"cpu_ms,omitempty"`
	MemoryMB *int64 `json:"memory_mb,omitempty"`
	Pids     *int64 `json:"pids,omitempty"`
	OutputKB *int64 `json:"output_kb,omitempty"` // per stream
}

// Response is POST /run's answer (200). Compile is null for a language
// without a compile step; Run is null when the compile step failed.
type Response struct {
	Language string `json:"language"`
	Outcome  string `json:"outcome"` // one of the Outcome constants
	Compile  *Step  `json:"compile"`
	Run      *Step  `json:"run"`
}

// Outcomes, in Response.Outcome.
const (
	OutcomeOK           = "ok"            // the run step exited 0
	OutcomeNonzero      = "nonzero"       // the run step exited non-zero, or a signal ended it
	OutcomeCompileError = "compile_error" // the compile step failed
	OutcomeLimit        = "limit"         // a limit ended a step (Step.Limit names it)
)

// Step is one step (compile or run) of a Response.
type Step struct {
	ExitCode        int     `json:"exit_code"` // -1 when a signal ended it
	Signal          string  `json:"signal"`
	Limit           string  `json:"limit"` // "", wall_time, cpu_time, memory, pids, output
	OOMKilled       bool    `json:"oom_killed"`
	WallMS          float64 `json:"wall_ms"`
	CPUMS           float64 `json:"cpu_ms"`
	MemoryPeakBytes int64   `json:"memory_peak_bytes"`
	Stdout          string  `json:"stdout"`
	Stderr          string  `json:"stderr"`
	StdoutTruncated bool    `json:"stdout_truncated"`
	StderrTruncated bool    `json:"stderr_truncated"`
}

// Language is one entry of GET /languages.
type Language struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Compiled bool   `json:"compiled"`
}

// Error is the body of every error answer. Field names the request's field
// at fault, for a 400 ("" for a body that is not JSON).
type Error struct {
	Error string  `json:"error"`
	Field *string `json:"field,omitempty"`
}
