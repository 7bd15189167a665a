package main

// Corral's egress network: the same client in a sandbox whose only
// network is a Policy allowing one name, which the host's end dials on
// the test server's loopback port.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/egress"
)

// benchName is the name the sandbox's client asks for.
const benchName = "bench.example"

// corralEgress runs the client in a NetworkEgress sandbox, its binary
// bound in read-only.
func corralEgress(ctx context.Context, port int, mode string, n int64) ([]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	rule, err := egress.ParseRule(benchName + ":80")
	if err != nil {
		return nil, err
	}
	p, err := egress.NewPolicy(rule)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	p.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		if address != benchName+":80" {
			return nil, fmt.Errorf("unexpected dial to %s", address)
		}
		return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
	}
	dir := filepath.Dir(self)
	sb := sandbox.New(sandbox.Options{
		Network: sandbox.NetworkEgress,
		Egress:  p,
		Mounts:  []sandbox.Mount{{Type: sandbox.BindMount, Source: dir, Destination: "/bench"}},
	})
	cmd := sandbox.Command("/bench/"+filepath.Base(self), clientArgs(mode, "http://"+benchName, n)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	proc, err := sb.RunContext(ctx, cmd)
	if err != nil {
		return nil, err
	}
	res, err := proc.Wait()
	if err != nil {
		return nil, err
	}
	if !res.Success() {
		return nil, fmt.Errorf("client in the sandbox: %v: %s", res, stderr.String())
	}
	return stdout.Bytes(), nil
}
