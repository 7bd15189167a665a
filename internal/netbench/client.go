package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"
)

// clientResult is what the client mode prints, one JSON object.
type clientResult struct {
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	// Latencies of the small requests, in microseconds: p50 and p99.
	P50 float64 `json:"p50_us,omitempty"`
	P99 float64 `json:"p99_us,omitempty"`
	N   int     `json:"n,omitempty"`
}

// client runs in the environment under test: "bulk" downloads n bytes from
// url and times it; "rr" makes n small requests, each on a new connection
// (the name resolved, the egress decision and the dial included), and
// reports their latencies.
func client(mode, url string, n int64) error {
	var res clientResult
	switch mode {
	case "bulk":
		start := time.Now()
		resp, err := http.Get(fmt.Sprintf("%s/bulk?n=%d", url, n))
		if err != nil {
			return err
		}
		got, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("got %d bytes, want %d", got, n)
		}
		res.Bytes, res.Seconds = got, time.Since(start).Seconds()
	case "rr":
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var lat []float64
		for range n {
			start := time.Now()
			resp, err := c.Get(url + "/small")
			if err != nil {
				return err
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != "ok\n" {
				return fmt.Errorf("small request: %q, %v", b, err)
			}
			lat = append(lat, float64(time.Since(start).Microseconds()))
		}
		slices.Sort(lat)
		res.N, res.P50, res.P99 = len(lat), lat[len(lat)/2], lat[len(lat)*99/100]
	default:
		return fmt.Errorf("client mode %q: bulk or rr", mode)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
