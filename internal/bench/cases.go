package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/sandbox"
)

// runner starts one /bin/true and waits for it.
type runner func() error

// limits are the cgroup limits of the "limits" cases.
var limits = sandbox.Limits{Memory: 256 << 20, Pids: 64, CPUs: 1}

// bench holds the sandboxes the cases share: a Sandbox is made once and
// runs many commands, as a program would use it.
type bench struct {
	bwrap     string
	init      string // a corral-init binary (Options.Init), or "": its rows are skipped
	sandboxes []*sandbox.Sandbox
	boxes     []*sandbox.Box
}

func newBench(bwrap, init string) *bench { return &bench{bwrap: bwrap, init: init} }

func (b *bench) close() {
	for _, sb := range b.sandboxes {
		sb.Close()
	}
	b.sandboxes = nil
	for _, x := range b.boxes {
		x.Stop()
	}
	b.boxes = nil
}

// sandbox makes a Sandbox for opts, fills its pool, and returns a runner.
func (b *bench) sandbox(opts sandbox.Options) (runner, *sandbox.Sandbox, error) {
	sb := sandbox.New(opts)
	b.sandboxes = append(b.sandboxes, sb)
	if err := sb.Prewarm(context.Background()); err != nil {
		return nil, nil, err
	}
	r := runTrue(sb.Run, "a sandbox")
	// A run fails here, not in the middle of a table.
	if err := r(); err != nil {
		return nil, nil, err
	}
	return r, sb, nil
}

func execTrue() error { return exec.Command("/bin/true").Run() }

// The rows of cold sandboxes booted from the small init (Options.Init).
const (
	smallInitName       = "corral cold, small init"
	smallInitLimitsName = "corral cold, limits + seccomp, small init"
)

// floorName is the row of the re-exec design's floor, and smallFloorName
// the same floor for the small init.
const (
	floorName      = "re-exec floor (no set-up)"
	smallFloorName = "re-exec floor, small init"
)

// reexecFloor is the floor of Corral's design: this binary re-executed
// into a sandbox's namespaces (the same clone flags and id maps), exiting
// at once in sandbox.Main, with no filesystem, filter, protocol or
// command. No cold sandbox can start faster than it.
func reexecFloor() error { return protocol.ProbeCommand().Run() }

// smallFloor is reexecFloor with the small init in place of this binary:
// the floor of a cold sandbox booted from it (its Go runtime's start, and
// the namespaces'), which the set-up, the command and the teardown add to.
func (b *bench) smallFloor() error {
	c := protocol.ProbeCommand()
	c.Path = b.init
	return c.Run()
}

// bwrapArgs is the anchors' bubblewrap: every namespace, a read-only /usr
// with the merged-usr links, /proc, /dev and a tmpfs /tmp.
var bwrapArgs = []string{"--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
	"--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
	"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true"}

func (b *bench) bwrapTrue() error { return exec.Command(b.bwrap, bwrapArgs...).Run() }

// latencyCase is a row of the latency table.
type latencyCase struct {
	name string
	run  runner
	sb   *sandbox.Sandbox // its pool is filled before each timed run
}

// cases returns the rows of the latency table, those that can run here.
func (b *bench) cases() ([]latencyCase, error) {
	cs := []latencyCase{{name: "exec.Command(/bin/true)", run: execTrue}}
	if b.bwrap != "" {
		cs = append(cs, latencyCase{name: "bwrap --unshare-all", run: b.bwrapTrue})
	}
	if err := reexecFloor(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v; row skipped\n", floorName, err)
	} else {
		cs = append(cs, latencyCase{name: floorName, run: reexecFloor})
	}
	if b.init != "" {
		if err := b.smallFloor(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v; row skipped\n", smallFloorName, err)
		} else {
			cs = append(cs, latencyCase{name: smallFloorName, run: b.smallFloor})
		}
	}
	for _, c := range []struct {
		name string
		opts sandbox.Options
	}{
		{"corral cold (seccomp)", sandbox.Options{}},
		{"corral cold, limits + seccomp", sandbox.Options{Limits: limits}},
		{smallInitName, sandbox.Options{Init: b.init}},
		{smallInitLimitsName, sandbox.Options{Init: b.init, Limits: limits}},
		{"corral warm (pool)", sandbox.Options{Pool: 4}},
		{"corral warm, limits + seccomp", sandbox.Options{Pool: 4, Limits: limits}},
		{"corral warm, reuse", sandbox.Options{Pool: 4, Reuse: true}},
		{"corral warm, reuse, limits + seccomp", sandbox.Options{Pool: 4, Reuse: true, Limits: limits}},
	} {
		if c.opts.Init == "" && (c.name == smallInitName || c.name == smallInitLimitsName) {
			fmt.Fprintf(os.Stderr, "bench: %s: no corral-init binary (-init); row skipped\n", c.name)
			continue
		}
		r, sb, err := b.sandbox(c.opts)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v; row skipped\n", c.name, err)
			continue
		}
		cs = append(cs, latencyCase{name: c.name, run: r, sb: sb})
	}
	if c, err := b.boxCase(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v; row skipped\n", boxName, err)
	} else {
		cs = append(cs, c)
	}
	return cs, nil
}

// bindCases are cold sandboxes with n read-only binds each (of directories
// under dir), for latency against the number of mounts.
func (b *bench) bindCases(dir string) ([]latencyCase, error) {
	var cs []latencyCase
	for _, n := range []int{1, 10, 100} {
		var ms []sandbox.Mount
		for i := range n {
			src := filepath.Join(dir, strconv.Itoa(i))
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, err
			}
			ms = append(ms, sandbox.Bind(src, "/mnt/"+strconv.Itoa(i)))
		}
		r, sb, err := b.sandbox(sandbox.Options{Mounts: ms})
		if err != nil {
			return nil, fmt.Errorf("%d binds: %w", n, err)
		}
		cs = append(cs, latencyCase{name: fmt.Sprintf("corral cold, %d binds", n), run: r, sb: sb})
	}
	return cs, nil
}

// runTrue returns a run of /bin/true started by start (Sandbox.Run,
// Box.Exec), waited for and checked; where names it in the error.
func runTrue(start func(*sandbox.Cmd) (*sandbox.Process, error), where string) func() error {
	return func() error {
		p, err := start(sandbox.Command("/bin/true"))
		if err != nil {
			return err
		}
		res, err := p.Wait()
		if err != nil {
			return err
		}
		if !res.Success() {
			return fmt.Errorf("/bin/true in %s: %v", where, res)
		}
		return nil
	}
}
