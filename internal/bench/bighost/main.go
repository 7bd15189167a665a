// Command bighost is a big host program for the small init's benchmark
// (issue 14): it imports, and so runs the package inits of, k8s.io/client-go,
// google.golang.org/grpc, the Prometheus client and go-plugin, as a server
// that embeds Corral might. It is a module of its own, so that none of them
// enters Corral's go.mod; `make bench-bighost` runs it.
//
//	bighost cold N [INIT]   N cold sandboxes running /bin/true, one after
//	                        another; prints each one's milliseconds
//	bighost pool N [INIT]   fills a pool of N, prints the private memory
//	                        (USS) per idle init in KiB, and closes it
//
// INIT, when given, is a corral-init binary (Options.Init); without it the
// sandboxes re-execute this program.
package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corral-dev/corral/sandbox"
	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Used, so that the linker keeps them and their package inits.
var (
	_ = kubernetes.NewForConfig
	_ = rest.InClusterConfig
	_ = grpc.NewServer
	_ = plugin.Serve
	_ = prometheus.NewRegistry
)

func main() {
	sandbox.Main()
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: bighost cold|pool N [INIT]")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "bighost: N must be a positive number")
		os.Exit(2)
	}
	opts := sandbox.Options{}
	if len(os.Args) > 3 {
		opts.Init = os.Args[3]
	}
	switch os.Args[1] {
	case "cold":
		err = cold(opts, n)
	case "pool":
		err = pool(opts, n)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bighost:", err)
		os.Exit(1)
	}
}

func cold(opts sandbox.Options, n int) error {
	sb := sandbox.New(opts)
	defer sb.Close()
	for range n {
		start := time.Now()
		p, err := sb.Run(sandbox.Command("/bin/true"))
		if err != nil {
			return err
		}
		res, err := p.Wait()
		if err != nil {
			return err
		}
		if !res.Success() {
			return fmt.Errorf("/bin/true: %v", res)
		}
		fmt.Printf("%.3f\n", float64(time.Since(start).Microseconds())/1000)
	}
	return nil
}

func pool(opts sandbox.Options, n int) error {
	before := children()
	opts.Pool = n
	sb := sandbox.New(opts)
	defer sb.Close()
	if err := sb.Prewarm(context.Background()); err != nil {
		return err
	}
	time.Sleep(time.Second)
	var sum, k float64
	for _, pid := range children() {
		if slices.Contains(before, pid) {
			continue
		}
		sum += kib(pid, "Private_Clean:") + kib(pid, "Private_Dirty:")
		k++
	}
	if k == 0 {
		return fmt.Errorf("no pooled init found")
	}
	fmt.Printf("%.0f\n", sum/k)
	return nil
}

// children are the pids whose parent is this process.
func children() []int {
	var out []int
	b, _ := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/children", os.Getpid()))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		b, _ := os.ReadFile("/proc/self/task/" + e.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(out, pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

func kib(pid int, key string) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				v, _ := strconv.ParseFloat(f[0], 64)
				return v
			}
		}
	}
	return 0
}
