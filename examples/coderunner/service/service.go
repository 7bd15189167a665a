// Package service is the code runner's HTTP JSON API: POST /run runs a
// program through a job.Backend, GET /languages lists what runs, and
// /healthz, /readyz and /metrics serve operations (see the README,
// "Code runner service").
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/corral-dev/corral/examples/coderunner/job"
)

// Config is the service's settings (the server's flags).
type Config struct {
	Backend   job.Backend
	Languages []*job.Language // offered, in GET /languages's order
	// Defaults are a run step's limits when a request leaves them out;
	// Max are the most a request may ask for; Compile are every compile
	// step's (its Output is the run step's).
	Defaults, Max, Compile job.Limits
	MaxSource              int64 // bytes of source, of files together, and of stdin
	Concurrency            int   // jobs running at once
	Queue                  int   // jobs waiting; past it 429
	Token                  string
	Rate                   float64 // per-client requests/s; 0: off
	Logger                 *slog.Logger
	// Web serves what no API route does ("/"): the playground page.
	Web http.Handler
}

// Server is the service: an http.Handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	gate    *gate
	limiter *limiter
	metrics *metrics
	log     *slog.Logger
	// jobs ends the running jobs' contexts (Kill); active counts those
	// running or queued, and refuses more once draining.
	jobs   context.Context
	kill   context.CancelFunc
	active *tracker
}

// New returns the service for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("service: no backend")
	}
	if cfg.Concurrency < 1 || cfg.Queue < 0 {
		return nil, fmt.Errorf("service: concurrency %d must be at least 1, queue %d at least 0", cfg.Concurrency, cfg.Queue)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger, limiter: newLimiter(cfg.Rate), active: newTracker()}
	s.jobs, s.kill = context.WithCancel(context.Background())
	s.metrics = newMetrics(func() float64 {
		if p, ok := cfg.Backend.(interface{ PoolReady() int }); ok {
			return float64(p.PoolReady())
		}
		return math.NaN()
	})
	s.gate = newGate(cfg.Concurrency, cfg.Queue, func(n int) { s.metrics.queueDepth.Set(float64(n)) })
	s.mux.HandleFunc("POST /run", s.run)
	s.mux.HandleFunc("/run", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST /run with a JSON body")
	})
	s.mux.HandleFunc("GET /languages", s.languages)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	if cfg.Web != nil {
		s.mux.Handle("/", cfg.Web)
	}
	return s, nil
}

// ServeHTTP serves the API, answering 500 rather than dying should a
// handler panic.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// Drain makes the service refuse new jobs (503 "shutting down", and
// /readyz 503), and those waiting in the queue, while those running go
// on.
func (s *Server) Drain() { s.active.drain() }

// Kill ends the running jobs (their sandboxes are killed) and waits until
// the backend has returned them, or ctx ends.
func (s *Server) Kill(ctx context.Context) error {
	s.kill()
	return s.Wait(ctx)
}

// Wait waits for the running jobs to end, or ctx to.
func (s *Server) Wait(ctx context.Context) error { return s.active.wait(ctx) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.active.isDraining():
		writeError(w, http.StatusServiceUnavailable, "shutting down")
	case !s.cfg.Backend.Ready():
		writeError(w, http.StatusServiceUnavailable, "not ready")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	}
}

func (s *Server) languages(w http.ResponseWriter, r *http.Request) {
	out := make([]languageResponse, 0, len(s.cfg.Languages))
	for _, l := range s.cfg.Languages {
		out = append(out, languageResponse{Name: l.Name, Version: l.Version, Compiled: l.Compile != nil})
	}
	writeJSON(w, http.StatusOK, out)
}

// answerTimeout bounds the writing of a job's answer, once it has run.
const answerTimeout = 30 * time.Second

// runJob runs j on a slot the caller acquired, and gives the slot back
// and marks the job done (Wait, Kill) as soon as the backend returns.
func (s *Server) runJob(ctx context.Context, j *job.Job) (*job.Outcome, error) {
	defer s.active.done()
	defer s.gate.release()
	s.metrics.running.Inc()
	defer s.metrics.running.Dec()
	return s.cfg.Backend.Run(ctx, j)
}

// run serves POST /run.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	log := s.log.With("remote", r.RemoteAddr)
	if s.active.isDraining() {
		s.metrics.rejected.WithLabelValues("shutting_down").Inc()
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if msg := crossSite(r); msg != "" {
		s.metrics.rejected.WithLabelValues("cross_site").Inc()
		writeError(w, http.StatusForbidden, msg)
		return
	}
	if msg := notJSON(r); msg != "" {
		s.metrics.rejected.WithLabelValues("unsupported_media_type").Inc()
		writeError(w, http.StatusUnsupportedMediaType, msg)
		return
	}
	if !s.authorized(r) {
		s.metrics.rejected.WithLabelValues("unauthorized").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="coderunner"`)
		writeError(w, http.StatusUnauthorized, "a bearer token is required: Authorization: Bearer <token>")
		return
	}
	if ok, after := s.limiter.allow(r); !ok {
		s.metrics.rejected.WithLabelValues("rate_limited").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(after.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "rate limit: too many requests from this client")
		return
	}
	j, bad := s.decode(w, r)
	if bad != nil {
		s.metrics.rejected.WithLabelValues("bad_request").Inc()
		log.Info("bad request", "field", bad.field, "error", bad.msg)
		writeBadRequest(w, bad)
		return
	}
	// The job's context: the client's going away or Kill ends it.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.jobs, cancel)()
	// Counted before the slot is asked for, in the same lock as Drain's
	// flag: Wait cannot miss a job that goes on to run.
	if !s.active.add() {
		s.metrics.rejected.WithLabelValues("shutting_down").Inc()
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if err := s.gate.acquire(ctx, s.active.drained); err != nil {
		s.active.done()
		if errors.Is(err, errQueueFull) {
			s.metrics.rejected.WithLabelValues("queue_full").Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "queue full")
			return
		}
		if errors.Is(err, errDraining) {
			s.metrics.rejected.WithLabelValues("shutting_down").Inc()
		}
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	queued := time.Since(start)
	ran := time.Now()
	out, err := s.runJob(ctx, j)
	// The slot is free and the job done before the answer is written: a
	// client that reads it slowly, or never, holds neither.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(answerTimeout))
	name := j.Language.Name
	s.metrics.seconds.WithLabelValues(name, "total").Observe(time.Since(ran).Seconds())
	if err != nil {
		if s.jobs.Err() != nil {
			s.metrics.runs.WithLabelValues(name, outcomeCanceled).Inc()
			writeError(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		if r.Context().Err() != nil {
			s.metrics.runs.WithLabelValues(name, outcomeCanceled).Inc()
			log.Info("client gone: job killed", "language", name)
			return
		}
		s.metrics.runs.WithLabelValues(name, outcomeError).Inc()
		log.Error("run failed", "language", name, "error", err)
		writeError(w, http.StatusInternalServerError, "the backend failed to run the job; see the server's log")
		return
	}
	outcome := outcomeOf(out)
	s.metrics.runs.WithLabelValues(name, outcome).Inc()
	if out.Compile != nil {
		s.metrics.seconds.WithLabelValues(name, "compile").Observe(out.Compile.WallTime.Seconds())
	}
	if out.Run != nil {
		s.metrics.seconds.WithLabelValues(name, "run").Observe(out.Run.WallTime.Seconds())
	}
	attrs := []any{"language", name, "outcome", outcome, "queued_ms", queued.Milliseconds(), "ms", time.Since(ran).Milliseconds()}
	if out.Run != nil && out.Run.Limit != "" {
		attrs = append(attrs, "limit", out.Run.Limit)
	}
	log.Info("run", attrs...)
	writeJSON(w, http.StatusOK, runResponse{Language: name, Outcome: outcome, Compile: stepJSON(out.Compile), Run: stepJSON(out.Run)})
}
