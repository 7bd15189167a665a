package main

// Driving a server: clients in closed loops, each sending a request,
// checking its answer and sending the next, until the time is up.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// result is what one load run measured.
type result struct {
	Backend    string
	Elapsed    time.Duration
	Latencies  []time.Duration // of the answered requests (200)
	Saturated  int             // 429 answers (each retried after Retry-After)
	Errors     int             // other statuses and transport errors
	Cut        int             // requests under way when the time was up, abandoned
	Wrong      int             // 200 answers that failed their check
	ByProgram  map[string]*count
	Outcomes   map[string]int // outcome of each 200 answer
	Failures   []string       // the first few wrong answers and errors, described
	Unhealthy  string         // why the server was not healthy after the run, or ""
	Leftovers  []int          // pids of sandbox processes that outlived the server
	Throughput float64        // answered requests per second
}

// count is one program's tally.
type count struct {
	Kind       string
	Sent       int
	Right      int
	Wrong      int
	Saturated  int
	OtherError int
}

// maxFailures is how many failures a result keeps described.
const maxFailures = 10

// driver runs clients against one server.
type driver struct {
	base     string // http://host:port
	client   *http.Client
	programs *picker
	clients  int
	duration time.Duration
	drain    bool // wait for the requests under way when the time is up

	mu  sync.Mutex
	res *result
}

func newDriver(base string, ps []program, clients int, duration time.Duration) *driver {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	return &driver{base: base, client: &http.Client{Transport: tr, Timeout: 2 * time.Minute},
		programs: newPicker(ps), clients: clients, duration: duration}
}

// run drives the server for d.duration with d.clients clients. Requests
// under way when the time is up are abandoned (the server then ends their
// jobs) and counted as cut, as load generators do: waiting for them would
// add a drain, as long as the queue, to every run.
func (d *driver) run(ctx context.Context) *result {
	d.res = &result{ByProgram: map[string]*count{}, Outcomes: map[string]int{}}
	for _, p := range d.programs.ps {
		d.res.ByProgram[p.name] = &count{Kind: p.kind}
	}
	ctx, cancel := context.WithTimeout(ctx, d.duration)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range d.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			// Client i sends program i first: with as many clients as
			// programs, each is sent at least once.
			p := &d.programs.ps[i%len(d.programs.ps)]
			for ctx.Err() == nil {
				d.one(ctx, r, p)
				p = d.programs.pick(r)
			}
		}()
	}
	wg.Wait()
	d.res.Elapsed = time.Since(start)
	if !d.drain {
		d.res.Elapsed = min(d.res.Elapsed, d.duration)
	}
	d.res.Throughput = float64(len(d.res.Latencies)) / d.res.Elapsed.Seconds()
	slices.Sort(d.res.Latencies)
	d.client.CloseIdleConnections()
	return d.res
}

// one sends one program, again after each 429 until the time is up, and
// records how it went. The latency is that of the answered attempt.
func (d *driver) one(ctx context.Context, r *rand.Rand, p *program) {
	req, check := p.make(r)
	body, _ := json.Marshal(req)
	for {
		start := time.Now()
		rctx := ctx
		if d.drain {
			rctx = context.WithoutCancel(ctx)
		}
		status, retry, a, err := d.post(rctx, body)
		lat := time.Since(start)
		d.mu.Lock()
		c := d.res.ByProgram[p.name]
		c.Sent++
		switch {
		case err != nil && ctx.Err() != nil:
			d.res.Cut++
		case err != nil || (status != http.StatusOK && status != http.StatusTooManyRequests):
			c.OtherError++
			d.res.Errors++
			d.fail(fmt.Sprintf("%s: status %d: %v", p.name, status, err))
		case status == http.StatusTooManyRequests:
			c.Saturated++
			d.res.Saturated++
		default:
			d.res.Latencies = append(d.res.Latencies, lat)
			d.res.Outcomes[a.Outcome]++
			if why := check(a); why != "" {
				c.Wrong++
				d.res.Wrong++
				d.fail(p.name + ": " + why)
			} else {
				c.Right++
			}
		}
		d.mu.Unlock()
		if status != http.StatusTooManyRequests {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func (d *driver) fail(s string) {
	if len(d.res.Failures) < maxFailures {
		d.res.Failures = append(d.res.Failures, s)
	}
}

// post sends body to POST /run. It returns the status, the Retry-After
// of a 429, and the decoded answer of a 200.
func (d *driver) post(ctx context.Context, body []byte) (int, time.Duration, *runResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+"/run", bytes.NewReader(body))
	if err != nil {
		return 0, 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, 0, nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var a runResponse
		if err := json.Unmarshal(b, &a); err != nil {
			return resp.StatusCode, 0, nil, fmt.Errorf("decoding the answer: %w", err)
		}
		return resp.StatusCode, 0, &a, nil
	case http.StatusTooManyRequests:
		s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || s < 0 {
			return resp.StatusCode, 0, nil, fmt.Errorf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
		}
		return resp.StatusCode, time.Duration(s) * time.Second, nil, nil
	}
	return resp.StatusCode, 0, nil, fmt.Errorf("%s", bytes.TrimSpace(b))
}

// languages returns GET /languages's names.
func languages(base string) ([]string, error) {
	resp, err := http.Get(base + "/languages")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ls []struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ls); err != nil {
		return nil, fmt.Errorf("GET /languages: %w", err)
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	return names, nil
}

// healthy checks the server after a run: /healthz answers ok, and a
// python3 hello world (or sh's, without python3) runs right.
func healthy(base string, offered []string) string {
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		return "GET /healthz: " + err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "GET /healthz: " + resp.Status
	}
	req, want := runRequest{Language: "sh", Source: "echo healthy"}, "healthy\n"
	if slices.Contains(offered, "python3") {
		req, want = runRequest{Language: "python3", Source: "print('healthy')"}, "healthy\n"
	}
	d := newDriver(base, nil, 1, 0)
	body, _ := json.Marshal(req)
	for range 30 {
		status, retry, a, err := d.post(context.Background(), body)
		switch {
		case status == http.StatusTooManyRequests:
			time.Sleep(retry)
			continue
		case err != nil:
			return "POST /run after the load: " + err.Error()
		}
		if why := wantStdout(want)(a); why != "" {
			return "POST /run after the load: " + why
		}
		return ""
	}
	return "POST /run after the load: still 429"
}

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
