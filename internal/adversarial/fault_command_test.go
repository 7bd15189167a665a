package adversarial

// Faults: the command misbehaves: it ignores SIGTERM, closes its stdio or
// floods it.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

func TestFaultSigtermIgnored(t *testing.T) {
	faultStart(t)

	const script = `trap '' TERM; sleep 1000 & echo ready; wait`
	// Control: SIGTERM does end a command that does not ignore it.
	t.Run("control", func(t *testing.T) {
		before := testutil.Take()
		p, tree, stop := faultStartReady(t, context.Background(), sandbox.Options{}, `sleep 1000 & echo ready; wait`)
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("Signal(SIGTERM): %v", err)
		}
		res, err := faultWait(t, p, 5*time.Second*faultSlow)
		stop()
		if err != nil || res.Signal != syscall.SIGTERM {
			t.Errorf("plain command after SIGTERM: %v, %v; want signal: terminated", res, err)
		}
		faultAssertGone(t, tree)
		faultFinish(t, before)
	})
	t.Run("kill", func(t *testing.T) {
		before := testutil.Take()
		p, tree, stop := faultStartReady(t, context.Background(), sandbox.Options{}, script)
		faultSigtermHeld(t, p, tree)
		if err := p.Kill(); err != nil {
			t.Errorf("Kill: %v", err)
		}
		res, err := faultWait(t, p, 5*time.Second*faultSlow)
		stop()
		if err != nil || res.Signal != syscall.SIGKILL {
			t.Errorf("after Kill: %v, %v; want signal: killed and no error", res, err)
		}
		faultAssertGone(t, tree)
		faultFinish(t, before)
	})
	t.Run("context-cancel", func(t *testing.T) {
		before := testutil.Take()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p, tree, stop := faultStartReady(t, ctx, sandbox.Options{}, script)
		faultSigtermHeld(t, p, tree)
		cancel()
		res, err := faultWait(t, p, 5*time.Second*faultSlow)
		stop()
		if !errors.Is(err, context.Canceled) || res == nil || res.Signal != syscall.SIGKILL {
			t.Errorf("after cancel: %v, %v; want signal: killed and context.Canceled", res, err)
		}
		faultAssertGone(t, tree)
		faultFinish(t, before)
	})
	t.Run("time-limit", func(t *testing.T) {
		before := testutil.Take()
		opts := sandbox.Options{Limits: sandbox.Limits{Time: 600 * time.Millisecond * faultSlow}}
		p, tree, stop := faultStartReady(t, context.Background(), opts, script)
		faultSigtermHeld(t, p, tree)
		res, err := faultWait(t, p, 5*time.Second*faultSlow)
		stop()
		if err != nil || res.Limit != sandbox.LimitTime || !res.TimedOut || res.Signal != syscall.SIGKILL {
			t.Errorf("under a %v limit: %v, %v, limit %q, timed out %v; want time and SIGKILL", opts.Limits.Time, res, err, res.Limit, res.TimedOut)
		}
		faultAssertGone(t, tree)
		faultFinish(t, before)
	})
}

func TestFaultStdio(t *testing.T) {
	faultStart(t)

	t.Run("closed-then-exits", func(t *testing.T) {
		// Stdin is endless: the copy into the sandbox must stop when the
		// command has closed its end and gone.
		before := testutil.Take()
		var out, errb bytes.Buffer
		c := sandbox.Command("/bin/sh", "-c", `exec >&- 2>&- <&-; sleep 0.3; exit 3`)
		c.Stdin, c.Stdout, c.Stderr = faultEndless{}, &out, &errb
		p, err := sandbox.New(sandbox.Options{}).Run(c)
		if err != nil {
			t.Fatal(err)
		}
		res, err := faultWait(t, p, 5*time.Second*faultSlow)
		if err != nil || res.ExitCode != 3 || out.Len()+errb.Len() != 0 {
			t.Errorf("closed stdio, then exit 3: %v, %v, output %q %q", res, err, out.String(), errb.String())
		}
		faultFinish(t, before)
	})
	t.Run("closed-stdin-blocking-reader", func(t *testing.T) {
		// The caller's Stdin is not a file and blocks (an io.Pipe nobody
		// writes yet, as a network stream would): once the command has
		// closed its stdin and the sandbox has ended, Wait must return,
		// or at least cancelling the context must end it.
		before := testutil.Take()
		inR, inW := io.Pipe()
		defer inW.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := sandbox.Command("/bin/sh", "-c", `exec <&-; sleep 0.2; exit 3`)
		c.Stdin = inR
		p, err := sandbox.New(sandbox.Options{}).RunContext(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		tree := faultWaitTree(p.Pid(), 2)
		type waited struct {
			res *sandbox.Result
			err error
		}
		done := make(chan waited, 1)
		go func() {
			res, err := p.Wait()
			done <- waited{res, err}
		}()
		var w waited
		select {
		case w = <-done:
		case <-time.After(3 * time.Second * faultSlow):
			var alive []int
			for _, pid := range tree {
				if testutil.Alive(pid) {
					alive = append(alive, pid)
				}
			}
			cancel()
			select {
			case w = <-done:
				t.Errorf("Wait returned only when the context was cancelled, 3 s after the command exited (sandbox processes alive: %v)", alive)
			case <-time.After(2 * time.Second * faultSlow):
				t.Errorf("Wait hangs: the command closed its stdin and exited 3 s ago (sandbox processes alive: %v), "+
					"but Wait still waits for the copy from Cmd.Stdin, blocked in the caller's Read; cancelling "+
					"the context does not end it either (os/exec semantics without a WaitDelay); unblocking the reader", alive)
				inW.Close()
				w = <-done
			}
		}
		if w.res == nil || w.res.ExitCode != 3 {
			t.Errorf("command closed stdin and exited 3: %v, %v", w.res, w.err)
		}
		faultAssertGone(t, tree)
		faultFinish(t, before)
	})
	t.Run("closed-keeps-running", func(t *testing.T) {
		before := testutil.Take()
		var out bytes.Buffer
		c := sandbox.Command("/bin/sh", "-c", `exec >&- 2>&- <&-; sleep 1000 & wait`)
		c.Stdin, c.Stdout, c.Stderr = faultEndless{}, &out, &out
		p, err := sandbox.New(sandbox.Options{}).Run(c)
		if err != nil {
			t.Fatal(err)
		}
		tree := faultWaitTree(p.Pid(), 3)
		time.Sleep(100 * time.Millisecond)
		p.Kill()
		res, err := faultWait(t, p, 5*time.Second*faultSlow)
		if err != nil || res.Signal != syscall.SIGKILL {
			t.Errorf("closed stdio, running, killed: %v, %v", res, err)
		}
		faultAssertGone(t, tree)
		faultFinish(t, before)
	})
	t.Run("background-holds-stdout", func(t *testing.T) {
		// The command exits while a background child still holds its
		// stdout and stderr: the sandbox ends with the command.
		before := testutil.Take()
		var out, errb bytes.Buffer
		c := sandbox.Command("/bin/sh", "-c", `sleep 1000 & echo bye`)
		c.Stdout, c.Stderr = &out, &errb
		p, err := sandbox.New(sandbox.Options{}).Run(c)
		if err != nil {
			t.Fatal(err)
		}
		res, err := faultWait(t, p, 5*time.Second*faultSlow)
		if err != nil || !res.Success() || out.String() != "bye\n" {
			t.Errorf("exit with a background child on stdout: %v, %v, %q", res, err, out.String())
		}
		faultFinish(t, before)
	})
	for _, tc := range []struct {
		name string
		lim  sandbox.Limits
	}{
		{"flood-output-limit", sandbox.Limits{Output: 100 << 10, Time: 20 * time.Second * faultSlow}},
		{"flood-time-limit", sandbox.Limits{Time: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.Take()
			w := &faultSlowWriter{}
			c := sandbox.Command("yes")
			c.Stdout = w
			p, err := sandbox.New(sandbox.Options{Limits: tc.lim}).Run(c)
			if err != nil {
				t.Fatal(err)
			}
			res, err := faultWait(t, p, 10*time.Second*faultSlow)
			n, writes := w.figures()
			t.Logf("yes to a slow reader (1 ms per write), %+v: %v, limit %q, %d bytes in %d writes, wall %v",
				tc.lim, res, res.Limit, n, writes, res.Wall.Round(time.Millisecond))
			switch {
			case err != nil || res.Signal != syscall.SIGKILL:
				t.Errorf("flood: %v, %v; want killed", res, err)
			case tc.lim.Output > 0 && (res.Limit != sandbox.LimitOutput || !res.OutputTruncated || n != tc.lim.Output):
				t.Errorf("flood under Output %d: limit %q, truncated %v, %d bytes through", tc.lim.Output, res.Limit, res.OutputTruncated, n)
			case tc.lim.Output == 0 && (res.Limit != sandbox.LimitTime || n == 0):
				t.Errorf("flood under Time %v: limit %q, %d bytes through", tc.lim.Time, res.Limit, n)
			}
			faultFinish(t, before)
		})
	}
}

// faultSigtermHeld sends SIGTERM to a command that ignores it and checks
// that it keeps running.
func faultSigtermHeld(t *testing.T, p *sandbox.Process, tree []int) {
	t.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal(SIGTERM): %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, pid := range tree {
		if !testutil.Alive(pid) {
			t.Errorf("process %d of %v died of a SIGTERM the command ignores", pid, tree)
		}
	}
}

// faultStartReady starts script and waits for it to print "ready"; it
// returns the sandbox's tree of processes then and a function to call after
// Wait, which ends the reading of the rest of the output.
func faultStartReady(t *testing.T, ctx context.Context, opts sandbox.Options, script string) (*sandbox.Process, []int, func()) {
	t.Helper()
	r, w := io.Pipe()
	c := sandbox.Command("/bin/sh", "-c", script)
	c.Stdout = w
	p, err := sandbox.New(opts).RunContext(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(r)
		sc.Scan()
		ready <- sc.Text()
		io.Copy(io.Discard, r)
		close(drained)
	}()
	stop := func() { w.Close(); <-drained }
	select {
	case l := <-ready:
		if l != "ready" {
			p.Kill()
			p.Wait()
			stop()
			t.Fatalf("script said %q, not ready", l)
		}
	case <-time.After(10 * time.Second * faultSlow):
		p.Kill()
		p.Wait()
		stop()
		t.Fatal("script not ready in time")
	}
	return p, faultWaitTree(p.Pid(), 3), stop
}

// faultEndless is a stdin that never ends.
type faultEndless struct{}

func (faultEndless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// faultSlowWriter is a slow reader of the command's output: 1 ms per write.
type faultSlowWriter struct {
	mu        sync.Mutex
	n, writes int64
}

func (w *faultSlowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	w.mu.Lock()
	w.n += int64(len(p))
	w.writes++
	w.mu.Unlock()
	return len(p), nil
}

func (w *faultSlowWriter) figures() (n, writes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, w.writes
}
