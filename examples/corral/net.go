package main

// The network flags of "corral run": --net egress, --allow-net, --net-log
// and --publish.

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/egress"
)

// netFlags are the network flags.
type netFlags struct {
	mode     *string  // --net
	allow    listFlag // --allow-net
	log      *string  // --net-log
	publish  listFlag // --publish
	logFile  *os.File // --net-log's file, which close closes
	forwards []net.Listener
}

// register defines the flags on fl.
func (n *netFlags) register(fl *flag.FlagSet) {
	n.mode = fl.String("net", "none", "network: none (loopback only), host (the host's), or egress (a user-mode network in corral that allows only --allow-net's destinations, by name; DNS at 10.0.2.3)")
	fl.Var(&n.allow, "allow-net", "with the egress network (which it implies), allow `RULE`: HOST:PORT, *.DOMAIN:PORT, HOST:* (any port), IPv4:PORT or CIDR:PORT (repeatable)")
	n.log = fl.String("net-log", "", "with the egress network, write each DNS query, connection and dropped packet as a JSON line to `FILE` (- for stderr)")
	fl.Var(&n.publish, "publish", "with the egress network, forward `[HOST:]HOSTPORT:PORT`: connections to HOST:HOSTPORT (HOST default 127.0.0.1) reach the command's PORT, on which it listens on 0.0.0.0 (repeatable)")
}

// apply sets opts's network from the flags; errOut is corral's own
// stderr (for --net-log -). The error names the flag.
func (n *netFlags) apply(fl *flag.FlagSet, opts *sandbox.Options, errOut io.Writer) error {
	netSet := false
	fl.Visit(func(f *flag.Flag) { netSet = netSet || f.Name == "net" })
	mode := *n.mode
	if len(n.allow) > 0 && !netSet {
		mode = "egress" // --allow-net implies it
	}
	switch mode {
	case "none":
	case "host":
		opts.Network = sandbox.NetworkHost
	case "egress":
		opts.Network = sandbox.NetworkEgress
	default:
		return fmt.Errorf("--net %q: want none, host or egress", mode)
	}
	if mode != "egress" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"--allow-net", len(n.allow) > 0}, {"--net-log", *n.log != ""}, {"--publish", len(n.publish) > 0}} {
			if f.set {
				return fmt.Errorf("%s needs the egress network: drop --net %s, or use --net egress", f.name, mode)
			}
		}
		return nil
	}
	for _, p := range n.publish {
		if _, _, err := parsePublish(p); err != nil {
			return err
		}
	}
	var rules []egress.Rule
	for _, s := range n.allow {
		r, err := egress.ParseRule(s)
		if err != nil {
			return fmt.Errorf("--allow-net: %w", err)
		}
		rules = append(rules, r)
	}
	p, err := egress.NewPolicy(rules...)
	if err != nil {
		return fmt.Errorf("--allow-net: %w", err)
	}
	if *n.log != "" {
		w := errOut
		if *n.log != "-" {
			f, err := os.OpenFile(*n.log, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return fmt.Errorf("--net-log: %w", err)
			}
			n.logFile, w = f, f
		}
		var mu sync.Mutex
		enc := json.NewEncoder(w)
		p.Events = func(e egress.Event) {
			mu.Lock()
			enc.Encode(e) // one line, one write
			mu.Unlock()
		}
	}
	opts.Egress = p
	return nil
}

// start forwards --publish's addresses to p's sandbox.
func (n *netFlags) start(p *sandbox.Process) error {
	for _, spec := range n.publish {
		listen, port, _ := parsePublish(spec)
		l, err := p.Forward(listen, port)
		if err != nil {
			return fmt.Errorf("--publish %s: %w", spec, err)
		}
		n.forwards = append(n.forwards, l)
	}
	return nil
}

// close stops the forwards and closes the log.
func (n *netFlags) close() {
	for _, l := range n.forwards {
		l.Close()
	}
	if n.logFile != nil {
		n.logFile.Close()
	}
}

// parsePublish parses [HOST:]HOSTPORT:PORT into the address to listen on
// and the sandbox's port.
func parsePublish(s string) (listen string, port int, err error) {
	bad := func(why string) (string, int, error) {
		return "", 0, fmt.Errorf("--publish %q: %s: write [HOST:]HOSTPORT:PORT, e.g. 8080:80 or 0.0.0.0:8080:80", s, why)
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return bad("no sandbox port")
	}
	rest, p := s[:i], s[i+1:]
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return bad(fmt.Sprintf("the sandbox's port %q is not 1 to 65535", p))
	}
	host, hostPort := "127.0.0.1", rest
	if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		host, hostPort = strings.TrimSuffix(strings.TrimPrefix(rest[:j], "["), "]"), rest[j+1:]
		if host == "" {
			return bad("an empty HOST")
		}
	}
	hp, err := strconv.Atoi(hostPort)
	if err != nil || hp < 0 || hp > 65535 {
		return bad(fmt.Sprintf("the host's port %q is not 0 to 65535", hostPort))
	}
	return net.JoinHostPort(host, strconv.Itoa(hp)), port, nil
}
