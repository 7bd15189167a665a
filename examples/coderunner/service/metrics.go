package service

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the service's Prometheus metrics (names in the README).
type metrics struct {
	reg        *prometheus.Registry
	runs       *prometheus.CounterVec
	queueDepth prometheus.Gauge
	running    prometheus.Gauge
	seconds    *prometheus.HistogramVec
	rejected   *prometheus.CounterVec
}

// newMetrics registers the metrics; poolReady reads the backend's warm
// sandboxes.
func newMetrics(poolReady func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coderunner_runs_total",
			Help: "Jobs run, by language and outcome (ok, nonzero, compile_error, limit, error, canceled: killed as the client hung up or the server shut down).",
		}, []string{"language", "outcome"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "coderunner_queue_depth",
			Help: "Jobs waiting for a slot to run.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "coderunner_running",
			Help: "Jobs running now.",
		}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "coderunner_run_seconds",
			Help:    "Wall time of each step (compile, run) and of the whole job (total, queueing excluded).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"language", "step"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coderunner_rejected_total",
			Help: "Requests answered without running, by reason (bad_request, unauthorized, queue_full, rate_limited, shutting_down, cross_site, unsupported_media_type).",
		}, []string{"reason"}),
	}
	pool := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "coderunner_pool_ready",
		Help: "Sandboxes the backend holds booted and waiting, where it tells.",
	}, poolReady)
	m.reg.MustRegister(m.runs, m.queueDepth, m.running, m.seconds, m.rejected, pool,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
