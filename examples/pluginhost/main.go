// Command pluginhost is a go-plugin host whose plugin runs in a Corral
// sandbox: it starts the key-value plugin (examples/pluginhost/kvplugin),
// stores and reads back a key over gRPC, and asks the plugin what it can
// reach of the host.
//
//	go build -o /tmp/kvplugin ./examples/pluginhost/kvplugin
//	go run ./examples/pluginhost -plugin /tmp/kvplugin
//
// Flags: -plugin PATH (required), -unsandboxed to start the plugin as go-plugin
// does by default, for comparison, -probe-file and -probe-addr for what the
// plugin tries to read and dial, and -hold to keep running after the calls
// until stdin ends (the tests use it to kill the host).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/corral-dev/corral/examples/pluginhost/kv"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/pluginrunner"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

func main() {
	sandbox.Main() // first: the plugin's sandbox init runs here
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pluginhost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("plugin", "", "the plugin binary (go build ./examples/pluginhost/kvplugin)")
	unsandboxed := fs.Bool("unsandboxed", false, "run the plugin as a plain subprocess, as go-plugin does by default")
	probeFile := fs.String("probe-file", "", "a host file the plugin tries to read (default: a file the host writes in its temporary directory)")
	probeAddr := fs.String("probe-addr", "", "a TCP address the plugin tries to dial (default: a listener of the host's on 127.0.0.1)")
	hold := fs.Bool("hold", false, "after the calls, keep the plugin running until stdin ends")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "pluginhost: -plugin PATH is required (go build -o /tmp/kvplugin ./examples/pluginhost/kvplugin)")
		return 2
	}
	if *probeFile == "" {
		f, err := os.CreateTemp("", "pluginhost-secret")
		if err == nil {
			_, err = f.WriteString("a secret of the host\n")
			f.Close()
			defer os.Remove(f.Name())
		}
		if err != nil {
			fmt.Fprintln(stderr, "pluginhost:", err)
			return 1
		}
		*probeFile = f.Name()
	}
	if *probeAddr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "pluginhost:", err)
			return 1
		}
		defer ln.Close()
		go func() { // accept and drop: the plugin only checks that it connects
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		*probeAddr = ln.Addr().String()
	}

	cfg := &plugin.ClientConfig{
		HandshakeConfig:  kv.Handshake,
		Plugins:          kv.Plugins(nil),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SkipHostEnv:      true, // the host's environment stays out of the plugin
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "pluginhost", Output: stderr, Level: hclog.Warn}),
	}
	if *unsandboxed {
		cfg.Cmd = exec.Command(*path)
	} else {
		// The one line that sandboxes the plugin, in place of Cmd:
		cfg.RunnerFunc = pluginrunner.RunnerFunc(sandbox.Options{}, exec.Command(*path))
	}
	client := plugin.NewClient(cfg)
	defer client.Kill()

	rpc, err := client.Client()
	if err != nil {
		fmt.Fprintln(stderr, "pluginhost: starting the plugin:", err)
		return 1
	}
	raw, err := rpc.Dispense(kv.Name)
	if err != nil {
		fmt.Fprintln(stderr, "pluginhost:", err)
		return 1
	}
	store := raw.(kv.Store)
	ctx := context.Background()
	if err := store.Put(ctx, "greeting", "hello from the plugin's store"); err != nil {
		fmt.Fprintln(stderr, "pluginhost: Put:", err)
		return 1
	}
	v, err := store.Get(ctx, "greeting")
	if err != nil {
		fmt.Fprintln(stderr, "pluginhost: Get:", err)
		return 1
	}
	fmt.Fprintf(stdout, "get greeting: %s\n", v)
	if _, err := store.Get(ctx, "missing"); err != nil {
		fmt.Fprintf(stdout, "get missing: %v\n", err)
	}
	p, err := store.Probe(ctx, *probeFile, *probeAddr)
	if err != nil {
		fmt.Fprintln(stderr, "pluginhost: Probe:", err)
		return 1
	}
	fmt.Fprintf(stdout, "plugin reads %s: %s\n", *probeFile, strings.TrimSpace(p.File))
	fmt.Fprintf(stdout, "plugin dials %s: %s\n", *probeAddr, p.Dial)
	if *hold {
		fmt.Fprintf(stdout, "plugin id %s\n", client.ID())
		io.Copy(io.Discard, stdin)
	}
	return 0
}
