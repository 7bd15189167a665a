package service

import (
	"encoding/json"
	"net/http"

	"github.com/corral-dev/corral/examples/coderunner/api"
	"github.com/corral-dev/corral/examples/coderunner/job"
)

// The API's types (package api), by the names the service uses.
type (
	runRequest       = api.Request
	limitsRequest    = api.Limits
	runResponse      = api.Response
	stepResponse     = api.Step
	languageResponse = api.Language
	errorResponse    = api.Error
)

// Outcomes, as in runResponse.Outcome and the runs metric; "error" is a
// backend failure (500), and "canceled" (the metric's only) a job killed
// because its client hung up or the server shut down.
const (
	outcomeOK           = api.OutcomeOK
	outcomeNonzero      = api.OutcomeNonzero
	outcomeCompileError = api.OutcomeCompileError
	outcomeLimit        = api.OutcomeLimit
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
