// Package pluginrunner runs hashicorp/go-plugin plugins in Corral sandboxes.
//
// A go-plugin host starts its plugin from a ClientConfig; RunnerFunc makes
// the plugin start in a sandbox instead, by changing one line:
//
//	client := plugin.NewClient(&plugin.ClientConfig{
//		HandshakeConfig:  handshake,
//		Plugins:          plugins,
//		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
//	-	Cmd:              exec.Command(path),
//	+	RunnerFunc:       pluginrunner.RunnerFunc(sandbox.Options{}, exec.Command(path)),
//	})
//
// The host program must call sandbox.Main first in main (see package
// sandbox).
//
// Inside, the plugin sees the sandbox's filesystem (the host's system
// directories, read-only, and its own tmpfs /tmp and /work), its own binary,
// bound read-only at the same path, and the socket directory go-plugin makes
// for it, bound writable at the same path (sandbox.SocketDir): it listens
// there and the host dials the socket by the path the handshake line
// carries, so no address needs translating. Nothing else of the host is
// visible, and with the default options there is no network but the
// sandbox's own loopback, so a plugin must use unix sockets: go-plugin
// makes them whenever a RunnerFunc is set (PLUGIN_UNIX_SOCKET_DIR).
// When the host dies, even by SIGKILL, the sandbox and the plugin die with
// it.
//
// go-plugin's ClientConfig.SecureConfig does not work with any RunnerFunc:
// go-plugin checks the checksum of its own Cmd's path, which is empty when
// a RunnerFunc is set, and fails. Check the plugin binary before calling
// NewClient instead. Nor does UnixSocketConfig.Group: the sandbox maps only
// the caller's own uid and gid, so the plugin cannot give its socket to
// another group.
package pluginrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/corral-dev/corral/sandbox"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// RunnerFunc returns a function for go-plugin's ClientConfig.RunnerFunc that
// runs the plugin cmd describes in a sandbox made from opts.
//
// go-plugin does not allow ClientConfig.Cmd beside a RunnerFunc, so cmd
// says what to run: its Path (made absolute; the file is bound read-only at
// that path inside), Args, Env, Dir (a path inside the sandbox; empty means
// sandbox.WorkDir) and ExtraFiles. The environment the plugin gets is
// cmd.Env followed by what go-plugin adds: its magic cookie, PLUGIN_*
// variables and, unless ClientConfig.SkipHostEnv is set, the host's own
// environment (set SkipHostEnv to keep the host's variables out of the
// sandbox). go-plugin's stdin (the host's) is not passed: the plugin's
// stdin is empty. opts is used as it is, with two mounts added after
// opts.Mounts: the plugin binary and the socket directory. Each plugin
// started gets a sandbox of its own; a pool (opts.Pool) is of no use to a
// single long run and is refused.
//
// The returned function fails when cmd is nil or its Path is empty, or
// when go-plugin's socket directory is too long for socket paths in it (a
// unix socket address holds 107 bytes), and the
// runner's Start with what sandbox.Run returns (an *sandbox.OptionError for
// bad options, say).
func RunnerFunc(opts sandbox.Options, cmd *exec.Cmd) func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error) {
	return func(_ hclog.Logger, gp *exec.Cmd, socketDir string) (runner.Runner, error) {
		if cmd == nil || cmd.Path == "" {
			return nil, errors.New("pluginrunner: no plugin to run: RunnerFunc needs an *exec.Cmd with a Path")
		}
		if opts.Pool != 0 {
			return nil, &sandbox.OptionError{Field: "Options.Pool", Value: opts.Pool, Reason: "a plugin is one long run with a sandbox of its own; leave Pool 0"}
		}
		if len(socketDir) > maxSocketDir {
			return nil, fmt.Errorf("pluginrunner: the socket directory %q is %d bytes long, more than the %d that leave room for go-plugin's socket names in a unix socket address: "+
				"set ClientConfig.UnixSocketConfig.TempDir (or TMPDIR) to a shorter directory", socketDir, len(socketDir), maxSocketDir)
		}
		path, err := filepath.Abs(cmd.Path)
		if err != nil {
			return nil, fmt.Errorf("pluginrunner: plugin path %q: %w", cmd.Path, err)
		}
		o := opts
		o.Mounts = append(slices.Clip(opts.Mounts), sandbox.Bind(path, path), sandbox.SocketDir(socketDir))
		sc := sandbox.FromExec(cmd)
		sc.Path = path
		sc.Env = append(slices.Clip(cmd.Env), gp.Env...)
		sc.Stdin, sc.Stdout, sc.Stderr = nil, nil, nil
		return &Runner{sb: sandbox.New(o), cmd: sc, path: path}, nil
	}
}

// maxSocketDir is the longest socket directory whose sockets' paths fit in
// a unix socket address (107 bytes and a NUL): go-plugin names its sockets
// "plugin" and a number of up to 10 digits (os.CreateTemp's).
const maxSocketDir = 107 - len("/plugin") - 10

// Runner is a go-plugin runner.Runner whose plugin runs in a sandbox.
// RunnerFunc makes them; go-plugin calls the methods.
type Runner struct {
	sb   *sandbox.Sandbox
	cmd  *sandbox.Cmd
	path string

	stdout, stderr *os.File // the host's read ends, go-plugin's to read

	closePipes sync.Once

	mu   sync.Mutex
	p    *sandbox.Process
	done chan struct{} // closed when wait ended
	res  *sandbox.Result
	err  error // what Wait returns
}

var _ runner.Runner = (*Runner)(nil)

// Start starts the plugin in a new sandbox, built before Start returns
// (milliseconds: ctx is not consulted).
func (r *Runner) Start(context.Context) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pluginrunner: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fmt.Errorf("pluginrunner: %w", err)
	}
	// The write ends go to the plugin as they are: go-plugin reads its
	// handshake line and logs until the plugin's last holder closes them.
	r.cmd.Stdout, r.cmd.Stderr = outW, errW
	p, err := r.sb.Run(r.cmd)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return fmt.Errorf("pluginrunner: starting %s: %w", r.path, err)
	}
	r.mu.Lock()
	r.p, r.stdout, r.stderr, r.done = p, outR, errR, make(chan struct{})
	r.mu.Unlock()
	go func() {
		res, err := p.Wait()
		if err == nil && !res.Success() {
			err = &ExitError{Result: res}
		}
		r.mu.Lock()
		r.res, r.err = res, err
		r.mu.Unlock()
		close(r.done)
	}()
	return nil
}

// ExitError is what Wait returns when the plugin did not exit with status 0.
type ExitError struct {
	Result *sandbox.Result
}

// Error says how the plugin ended: "pluginrunner: plugin exit status 1".
func (e *ExitError) Error() string { return "pluginrunner: plugin " + e.Result.String() }

// Wait waits until the plugin has ended and its sandbox is gone, then
// closes Stdout and Stderr, as exec.Cmd.Wait closes its pipes (go-plugin
// reads them to their end first). It returns nil when the plugin exited
// with status 0, an *ExitError when it exited otherwise or was killed, or
// the error of sandbox.Process.Wait. ctx ends the wait early, not the
// plugin.
func (r *Runner) Wait(ctx context.Context) error {
	done := r.doneChan()
	if done == nil {
		return errors.New("pluginrunner: Wait before Start")
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.closePipes.Do(func() {
		r.stdout.Close()
		r.stderr.Close()
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Runner) doneChan() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// Kill kills the plugin's whole sandbox and waits until it has ended. A
// plugin that already ended, or never started, is no error.
func (r *Runner) Kill(ctx context.Context) error {
	r.mu.Lock()
	p, done := r.p, r.done
	r.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		select {
		case <-done: // it ended meanwhile
			return nil
		default:
			return fmt.Errorf("pluginrunner: killing %s: %w", r.path, err)
		}
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stdout is the plugin's standard output, which carries go-plugin's
// handshake.
func (r *Runner) Stdout() io.ReadCloser { return r.stdout }

// Stderr is the plugin's standard error, which go-plugin logs.
func (r *Runner) Stderr() io.ReadCloser { return r.stderr }

// Name is the plugin's path.
func (r *Runner) Name() string { return r.path }

// ID is the host pid of the plugin's sandbox (its init, whose death ends
// the plugin), or "" before Start.
func (r *Runner) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return ""
	}
	return strconv.Itoa(r.p.Pid())
}

// Diagnose says how the plugin ended, when it has, and what commonly keeps
// a sandboxed plugin from starting.
func (r *Runner) Diagnose(context.Context) string {
	r.mu.Lock()
	res := r.res
	r.mu.Unlock()
	s := ""
	if res != nil {
		s = "the plugin's run ended: " + res.String() + "\n"
	}
	return s + "In its sandbox the plugin sees only its own binary, the host's system directories and its socket directory, " +
		"and no network: a plugin needing other files needs them in Options.Mounts, " +
		"and it must serve over a unix socket (go-plugin's default with a RunnerFunc)."
}

// PluginToHost returns the plugin's address as it is: the socket directory
// has the same path on both sides.
func (r *Runner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

// HostToPlugin returns the host's address as it is (see PluginToHost).
func (r *Runner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
