package service_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/service"
)

// watched is a backend that counts the jobs it runs, and flags one that
// starts once the service's Wait has said none runs.
type watched struct {
	job.Backend
	running atomic.Int64
	waited  atomic.Bool
	late    atomic.Int64
}

func (w *watched) Run(ctx context.Context, j *job.Job) (*job.Outcome, error) {
	if w.waited.Load() {
		w.late.Add(1)
	}
	w.running.Add(1)
	defer w.running.Add(-1)
	return w.Backend.Run(ctx, j)
}

func drainServer(t *testing.T, b job.Backend, langs []*job.Language, concurrency, queue int) (*service.Server, *httptest.Server) {
	t.Helper()
	srv, err := service.New(service.Config{Backend: b, Languages: langs, Defaults: defaults, Max: maxima, Compile: compile,
		MaxSource: 1 << 10, Concurrency: concurrency, Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts
}

// TestDrainQueued: on Drain a job waiting in the queue is answered 503 at
// once, while the one running finishes (200). Run with -race.
func TestDrainQueued(t *testing.T) {
	b, langs := corralBackend(t)
	w := &watched{Backend: b}
	srv, ts := drainServer(t, w, langs, 1, 4)
	first, second := make(chan *answer, 1), make(chan *answer, 1)
	go func() { first <- post(t, ts, req{Language: "sh", Source: src("sleep 3; echo first")}) }()
	waitMetric(t, ts, "coderunner_running 1")
	go func() { second <- post(t, ts, req{Language: "sh", Source: src("echo second")}) }()
	waitMetric(t, ts, "coderunner_queue_depth 1")
	srv.Drain()
	select {
	case a := <-second:
		if a.Code != 503 || a.Error != "shutting down" {
			t.Errorf("the queued job: %d %s, want 503 shutting down", a.Code, a.Body)
		}
	case a := <-first:
		t.Fatalf("the running job ended (%d %s) before the queued one was answered", a.Code, a.Body)
	}
	if err := srv.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := <-first; a.Code != 200 || a.Run.Stdout != "first\n" {
		t.Errorf("the running job: %d %s, want it finished", a.Code, a.Body)
	}
	if n := w.late.Load(); n != 0 {
		t.Errorf("%d jobs started after Wait", n)
	}
}

// TestDrainRace: requests arrive while the service drains; once Wait
// returns, no job runs and none starts. Run with -race.
func TestDrainRace(t *testing.T) {
	b, langs := corralBackend(t)
	w := &watched{Backend: b}
	srv, ts := drainServer(t, w, langs, 2, 8)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var ok, refused atomic.Int64
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a := post(t, ts, req{Language: "sh", Source: src("true")})
				switch a.Code {
				case 200:
					ok.Add(1)
				case 503, 429:
					refused.Add(1)
				default:
					t.Errorf("%d %s", a.Code, a.Body)
				}
			}
		}()
	}
	waitMetric(t, ts, "coderunner_running 2")
	srv.Drain()
	if err := srv.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.waited.Store(true)
	if n := w.running.Load(); n != 0 {
		t.Errorf("%d jobs run after Wait returned", n)
	}
	time.Sleep(200 * time.Millisecond) // requests still arrive
	close(stop)
	wg.Wait()
	if n := w.late.Load(); n != 0 {
		t.Errorf("%d jobs started after Wait returned", n)
	}
	if ok.Load() == 0 || refused.Load() == 0 {
		t.Errorf("%d ran, %d refused: want both, or the test shows nothing", ok.Load(), refused.Load())
	}
}
