package kv

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
)

// Serve runs the plugin: a Memory store served to the host over gRPC. It
// returns when the host ends the plugin.
func Serve() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         Plugins(&Memory{}),
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// Memory is a Store in memory: the plugin's implementation.
type Memory struct {
	mu sync.Mutex
	m  map[string]string
}

// Put sets key to value.
func (s *Memory) Put(_ context.Context, key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]string)
	}
	s.m[key] = value
	return nil
}

// Get returns key's value, or an error when there is none.
func (s *Memory) Get(_ context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return "", fmt.Errorf("no key %q", key)
	}
	return v, nil
}

// Probe tries to read path and to connect to addr (TCP), from wherever the
// plugin runs.
func (s *Memory) Probe(_ context.Context, path, addr string) (ProbeResult, error) {
	var r ProbeResult
	if b, err := os.ReadFile(path); err != nil {
		r.File = "error: " + err.Error()
	} else {
		r.File = string(b[:min(len(b), 64)])
	}
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err != nil {
		r.Dial = "error: " + err.Error()
	} else {
		c.Close()
		r.Dial = "connected"
	}
	return r, nil
}
