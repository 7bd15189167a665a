package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/corral-dev/corral/internal/paths"
	"github.com/corral-dev/corral/internal/protocol"
	filter "github.com/corral-dev/corral/internal/seccomp"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// Sandbox runs commands, each in a new sandbox built from the same Options.
// A Sandbox is safe for concurrent use.
type Sandbox struct {
	opts          Options
	mounts        []isolate.Mount
	filter        func() ([]byte, error) // the compiled seccomp filter (nil bytes when disabled), compiling since New
	answers       *filter.Answers        // with Options.Denials: the errnos of the filter's refusals, set by filter
	compiled      chan struct{}          // closed when filter has its result
	initQuery     func() error           // Options.Init's answer to the protocol question (validateInit), or nil
	caps          []int                  // capabilities the command keeps
	landlockRules []isolate.LandlockRule // nil: no Landlock filesystem rules
	landlockScope uint64                 // Landlock scopes (isolate.ScopeSignal)
	landlockNotes []string               // what Landlock could not do here
	capNames      []string               // and their names
	utf8Locale    bool                   // the root has C.UTF-8: LANG is set by default
	err           error                  // from validation; returned by every Run
	pool          *pool                  // nil without Options.Pool
	spec          protocol.Spec          // what every init is sent but the rlimits and the filter, in wire form once (New)
}

// New returns a Sandbox for opts. The options are validated here, once; an
// invalid option makes every Run fail with an *OptionError naming the field.
func New(opts Options) *Sandbox {
	opts.Mounts = append([]Mount(nil), opts.Mounts...)
	s := &Sandbox{opts: opts}
	if s.err = s.opts.validate(); s.err != nil {
		return s
	}
	s.mounts = s.opts.plan(os.Lstat, os.Readlink)
	s.utf8Locale = s.opts.utf8Locale()
	canonicalSources(s.mounts)
	if s.opts.Root != "" {
		if root, err := filepath.EvalSymlinks(s.opts.Root); err == nil {
			s.opts.Root = root
		}
	}
	// The filter is compiled here, once, not per run: the init only installs it.
	for _, c := range s.opts.Capabilities {
		n := capability(c)
		s.caps = append(s.caps, n)
		s.capNames = append(s.capNames, isolate.CapabilityNames[n])
	}
	if s.landlockRules, s.landlockScope, s.landlockNotes, s.err = s.landlock(); s.err != nil {
		return s
	}
	s.spec = s.newSpec()
	// The filter compiles in the background (the default one once per
	// process, ~5 ms): a Run waits for it only once its init is starting.
	// Validation caught the caller's mistakes; an error here is the
	// compiler's, and fails every Run.
	s.filter = sync.OnceValues(func() ([]byte, error) {
		f, err := s.opts.Seccomp.Compile(s.capNames)
		if err != nil {
			return nil, fmt.Errorf("sandbox: Options.Seccomp: %w", err)
		}
		if s.spec.Notify {
			// Its refusals notify, and are answered here (denials.go).
			if f, s.answers, err = filter.Notify(f); err != nil {
				return nil, fmt.Errorf("sandbox: Options.Denials: %w", err)
			}
		}
		return f, nil
	})
	s.compiled = make(chan struct{})
	go func() {
		s.filter()
		close(s.compiled)
	}()
	if s.opts.Init != "" {
		// Validation passed; what is left is the question to the binary
		// (validateInit). A pool's sandboxes boot now, so New asks it now,
		// and a wrong binary fails New as any bad option does; else it is
		// asked meanwhile, and the first boot awaits it like the filter.
		if q, _ := validateInit(s.opts.Init); q != nil {
			if s.opts.Pool > 0 {
				if s.err = q(); s.err != nil {
					return s
				}
			} else {
				s.initQuery = q
				go q()
			}
		}
	}
	if s.opts.Pool > 0 && s.canBoot() {
		s.startPool(s.opts.Pool)
	}
	return s
}

// Run starts cmd in a new sandbox and returns once the command is running
// (or could not be started). Use the Process to wait for it.
func (s *Sandbox) Run(cmd *Cmd) (*Process, error) {
	return s.RunContext(context.Background(), cmd)
}

// RunContext is like Run, but cancelling ctx kills the whole sandbox: the
// command and every process it started.
func (s *Sandbox) RunContext(ctx context.Context, cmd *Cmd) (*Process, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !s.canBoot() {
		return nil, ErrMainNotCalled
	}
	if err := cmd.validate(s.opts.Image != ""); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.compileErr(false); err != nil {
		return nil, err // known already: no init is started for it
	}
	start := time.Now()
	if b := s.take(); b != nil {
		refill := b.refill // its place in the pool: a failed run gives it back
		p, err := s.startRun(ctx, b, cmd, start, true)
		if err == nil {
			if !s.opts.Reuse { // a reused sandbox comes back to its place
				b.refillLater()
			}
			return p, nil
		}
		refill()
		if !initExited(err) || ctx.Err() != nil {
			return nil, err
		}
		// The pooled init died while it waited: start one afresh.
	}
	b, err := s.boot(ctx)
	if err != nil {
		return nil, err
	}
	return s.startRun(ctx, b, cmd, start, false)
}

// compileErr is the filter compiler's error: if wait, once it is done;
// else nil while it still runs.
func (s *Sandbox) compileErr(wait bool) error {
	if !wait {
		select {
		case <-s.compiled:
		default:
			return nil
		}
	}
	_, err := s.filter()
	return err
}

// newSpec is what the init needs to build the sandbox, but for the rlimits
// and the filter. New makes it once: the mounts and rules are converted to
// their wire form then, not for every init.
func (s *Sandbox) newSpec() protocol.Spec {
	hostname := s.opts.Hostname
	if hostname == "" {
		hostname = defaultHostname
	}
	var link *protocol.Link
	if s.opts.Network == NetworkEgress {
		link = protocol.WireLink(egressLink)
	}
	return protocol.Spec{
		Link:         link,
		Version:      protocol.Version,
		Hostname:     hostname,
		Loopback:     s.opts.Network != NetworkHost,
		Root:         protocol.WireRoot(isolate.Root{Dir: s.opts.Root}),
		Mounts:       protocol.WireMounts(s.mounts),
		Capabilities: s.caps,
		Landlock:     protocol.WireLandlock(s.landlockRules),
		Scopes:       s.landlockScope,
		// Seccomp.Disabled leaves no filter to refuse anything.
		RulesetElsewhere: s.landlockRules != nil && !s.opts.Seccomp.Disabled && refusesRuleset(s.opts.Seccomp),
		Reuse:            s.opts.Reuse,
		Notify:           s.opts.Denials != nil && !s.opts.Seccomp.Disabled,
		UserCounts:       protocol.WireUserCounts(userCounts()),
	}
}

// command is what the init needs to start cmd in b: with Options.Image,
// with b's image's configuration applied (imageCommand).
func (s *Sandbox) command(cmd *Cmd, b *booted) (protocol.Command, error) {
	if b.image != nil {
		return s.imageCommand(cmd, b.image)
	}
	args := cmd.Args
	if len(args) == 0 {
		args = []string{cmd.Path}
	}
	env := addMissing(append([]string(nil), cmd.Env...), s.defaultEnv())
	dir := cmd.Dir
	if dir == "" {
		dir = WorkDir
	}
	return protocol.Command{Path: cmd.Path, Args: args, Env: env, Dir: dir, ExtraFiles: len(cmd.ExtraFiles)}, nil
}

// addMissing appends to env each KEY=value of defaults whose key env
// lacks, and returns it.
func addMissing(env, defaults []string) []string {
	for _, kv := range defaults {
		key, _, _ := strings.Cut(kv, "=")
		if _, set := paths.Lookup(env, key); !set {
			env = append(env, kv)
		}
	}
	return env
}

// rlimits are the Options.Rlimits for the init to set.
func (s *Sandbox) rlimits() []isolate.Rlimit {
	r := s.opts.Rlimits
	core := uint64(r.Core)
	out := []isolate.Rlimit{{Resource: unix.RLIMIT_CORE, Cur: core, Max: core}}
	add := func(res int, v uint64) {
		if v > 0 {
			out = append(out, isolate.Rlimit{Resource: res, Cur: v, Max: v})
		}
	}
	add(unix.RLIMIT_NOFILE, r.OpenFiles)
	add(unix.RLIMIT_FSIZE, uint64(r.FileSize))
	add(unix.RLIMIT_STACK, uint64(r.Stack))
	for _, l := range userRlimits {
		v := l.set(r)
		if v == 0 {
			// The default, never above the caller's own hard limit, which
			// the init could not raise.
			v = l.max
			var have unix.Rlimit
			if unix.Getrlimit(l.resource, &have) == nil && have.Max < v {
				v = have.Max
			}
		}
		out = append(out, isolate.Rlimit{Resource: l.resource, Cur: v, Max: v})
	}
	return out
}

// canonicalSources resolves the symlinks in the mounts' host paths now,
// once: the init opens them without following any, so that a symlink
// swapped into a path later cannot redirect a bind.
func canonicalSources(ms []isolate.Mount) {
	for i, m := range ms {
		if m.Kind != isolate.Bind && m.Kind != isolate.Device {
			continue
		}
		if p, err := filepath.EvalSymlinks(m.Source); err == nil {
			ms[i].Source = p
		}
	}
}
