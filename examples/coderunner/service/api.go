package service

import (
	"encoding/json"
	"net/http"

	"github.com/corral-dev/corral/examples/coderunner/job"
)

// runRequest is POST /run's body.
type runRequest struct {
	Language string            `json:"language"`
	Source   *string           `json:"source"`
	Files    map[string]string `json:"files"`
	Stdin    string            `json:"stdin"`
	Limits   *limitsRequest    `json:"limits"`
}

// limitsRequest is a request's "limits"; nil fields take the defaults.
type limitsRequest struct {
	WallMS   *int64 `json:"wall_ms"`
	CPUMS    *int64 `json:"cpu_ms"`
	MemoryMB *int64 `json:"memory_mb"`
	Pids     *int64 `json:"pids"`
	OutputKB *int64 `json:"output_kb"`
}

// runResponse is POST /run's answer.
type runResponse struct {
	Language string        `json:"language"`
	Outcome  string        `json:"outcome"`
	Compile  *stepResponse `json:"compile"`
	Run      *stepResponse `json:"run"`
}

// stepResponse is one step of a runResponse.
type stepResponse struct {
	ExitCode        int     `json:"exit_code"`
	Signal          string  `json:"signal"`
	Limit           string  `json:"limit"`
	OOMKilled       bool    `json:"oom_killed"`
	WallMS          float64 `json:"wall_ms"`
	CPUMS           float64 `json:"cpu_ms"`
	MemoryPeakBytes int64   `json:"memory_peak_bytes"`
	Stdout          string  `json:"stdout"`
	Stderr          string  `json:"stderr"`
	StdoutTruncated bool    `json:"stdout_truncated"`
	StderrTruncated bool    `json:"stderr_truncated"`
}

// languageResponse is one entry of GET /languages.
type languageResponse struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Compiled bool   `json:"compiled"`
}

// errorResponse is every error's body; Field names the request's field at
// fault (400 only).
type errorResponse struct {
	Error string  `json:"error"`
	Field *string `json:"field,omitempty"`
}

// Outcomes, as in runResponse.Outcome and the runs metric; "error" is a
// backend failure (500), and "canceled" (the metric's only) a job killed
// because its client hung up or the server shut down.
const (
	outcomeOK           = "ok"
	outcomeNonzero      = "nonzero"
	outcomeCompileError = "compile_error"
	outcomeLimit        = "limit"
	outcomeError        = "error"
	outcomeCanceled     = "canceled"
)

// outcomeOf classifies a job's outcome.
func outcomeOf(o *job.Outcome) string {
	if c := o.Compile; c != nil && !c.Success() {
		if c.Limit != "" {
			return outcomeLimit
		}
		return outcomeCompileError
	}
	switch r := o.Run; {
	case r == nil:
		return outcomeError
	case r.Limit != "":
		return outcomeLimit
	case r.ExitCode != 0:
		return outcomeNonzero
	}
	return outcomeOK
}

// stepJSON converts a step for the answer.
func stepJSON(s *job.Step) *stepResponse {
	if s == nil {
		return nil
	}
	return &stepResponse{
		ExitCode: s.ExitCode, Signal: s.Signal, Limit: s.Limit, OOMKilled: s.OOMKilled,
		WallMS:          float64(s.WallTime.Microseconds()) / 1000,
		CPUMS:           float64(s.CPUTime.Microseconds()) / 1000,
		MemoryPeakBytes: s.MemoryPeak,
		Stdout:          string(s.Stdout), Stderr: string(s.Stderr),
		StdoutTruncated: s.StdoutTruncated, StderrTruncated: s.StderrTruncated,
	}
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// writeError answers with an error body.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorResponse{Error: msg})
}

// badRequest is a 400's error: the message and the field at fault.
type badRequest struct {
	field, msg string
}

func (e *badRequest) Error() string { return e.msg }

// writeBadRequest answers 400 naming the field.
func writeBadRequest(w http.ResponseWriter, e *badRequest) {
	f := e.field
	writeJSON(w, http.StatusBadRequest, errorResponse{Error: e.msg, Field: &f})
}
