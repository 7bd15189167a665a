package adversarial

// Faults: the machine is pushed: hundreds of sandboxes at once, memory
// exhausted inside cgroups, a bind source that disappears.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

func TestFaultHundredsAtOnce(t *testing.T) {
	faultStart(t)

	before := testutil.Take()
	faultMany(t, faultCount(200, 40), faultCount(50, 20))
	faultFinish(t, before)
}

func TestFaultMemoryExhausted(t *testing.T) {
	faultStart(t)

	before := testutil.Take()
	const n = 8
	type outcome struct {
		res *sandbox.Result
		err error
	}
	outs := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			opts := faultLimited(sandbox.Limits{Memory: 32 << 20, Time: 20 * time.Second * faultSlow})
			p, err := sandbox.New(opts).Run(sandbox.Command("tail", "/dev/zero"))
			if err != nil {
				outs[i].err = err
				return
			}
			outs[i].res, outs[i].err = p.Wait()
		})
	}
	wg.Wait()
	for i, o := range outs {
		switch {
		case o.err != nil:
			t.Errorf("bomb %d: %v", i, o.err)
		case !o.res.OOMKilled || o.res.Limit != sandbox.LimitMemory || o.res.Signal != syscall.SIGKILL:
			t.Errorf("bomb %d: %v, oom %v, limit %q; want OOM-killed, memory", i, o.res, o.res.OOMKilled, o.res.Limit)
		case o.res.MemoryPeak > 33<<20:
			t.Errorf("bomb %d: peak %d past the 32 MiB limit", i, o.res.MemoryPeak)
		default:
			t.Logf("bomb %d: %v, limit %q, peak %.1f MiB, wall %v", i, o.res, o.res.Limit,
				float64(o.res.MemoryPeak)/(1<<20), o.res.Wall.Round(time.Millisecond))
		}
	}
	t.Logf("host after 8 memory bombs: VmRSS %d MiB", faultRSS()>>20)
	faultFinish(t, before)
}

func TestFaultBindSourceGone(t *testing.T) {
	faultStart(t)

	for _, limited := range []bool{false, true} {
		t.Run("before-run"+faultLimName(limited), func(t *testing.T) {
			before := testutil.Take()
			dir := filepath.Join(t.TempDir(), "src")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			opts := sandbox.Options{}
			if limited {
				opts = faultLimited(sandbox.Limits{Pids: 64})
			}
			opts.Mounts = []sandbox.Mount{sandbox.Bind(dir, "/data")}
			sb := sandbox.New(opts) // validates dir: it exists now
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
			p, err := sb.Run(sandbox.Command("/bin/true"))
			if err == nil {
				res, werr := p.Wait()
				t.Fatalf("Run with a vanished bind source succeeded: %v, %v", res, werr)
			}
			var se *sandbox.SetupError
			if !errors.As(err, &se) || se.Path != dir || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Run with a vanished bind source: %v (%#v); want a SetupError naming %s and matching fs.ErrNotExist", err, se, dir)
			} else {
				t.Logf("Run: %v", err)
			}
			faultFinish(t, before)
		})
	}
	t.Run("while-running", func(t *testing.T) {
		before := testutil.Take()
		dir := filepath.Join(t.TempDir(), "src")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		c := sandbox.Command("/bin/sh", "-c", `exec 3</data/f; echo ready; read x
			if [ -e /data/f ]; then echo present; else echo gone; fi
			cat <&3; ls -A /data | wc -l; touch /data/new 2>/dev/null && echo wrote || echo refused; echo end`)
		c.Stdin, c.Stdout = inR, outW
		p, err := sandbox.New(sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/data")}}).Run(c)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(outR)
		if !sc.Scan() || sc.Text() != "ready" {
			p.Kill()
			t.Fatalf("command did not get ready: %q", sc.Text())
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the bind source while the sandbox runs: %v", err)
		}
		inW.Write([]byte("go\n"))
		inW.Close()
		var lines []string
		done := make(chan struct{})
		go func() {
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			close(done)
		}()
		res, err := faultWait(t, p, 5*time.Second*faultSlow)
		outW.Close()
		<-done
		want := []string{"gone", "hello", "0", "refused", "end"}
		if err != nil || !res.Success() || !slices.Equal(lines, want) {
			t.Errorf("after its bind source was removed, the command: %v, %v, said %q; want %q", res, err, lines, want)
		} else {
			t.Logf("source removed under a running sandbox: the command sees it gone, keeps the inode it had open: %q", lines)
		}
		faultFinish(t, before)
	})
}

// faultMany runs total sandboxes of /bin/true, inFlight at a time, half of
// them with a cgroup. Each must succeed or fail with a clear error; none may hang.
func faultMany(t *testing.T, total, inFlight int) {
	type outcome struct {
		res  *sandbox.Result
		err  error
		hang bool
	}
	outs := make([]outcome, total)
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			opts := sandbox.Options{}
			if i%2 == 1 {
				opts = faultLimited(sandbox.Limits{Pids: 64})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*faultSlow)
			defer cancel()
			p, err := sandbox.New(opts).RunContext(ctx, sandbox.Command("/bin/true"))
			if err == nil {
				outs[i].res, err = p.Wait()
			}
			outs[i].err = err
			outs[i].hang = errors.Is(err, context.DeadlineExceeded)
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(90 * time.Second * faultSlow):
		t.Fatalf("%d sandboxes, %d at a time: not all done after %v", total, inFlight, 90*time.Second*faultSlow)
	}
	wall := time.Since(start)
	var ok, failed int
	errs := map[string]int{}
	for i, o := range outs {
		switch {
		case o.hang:
			t.Errorf("run %d hung: %v", i, o.err)
		case o.err != nil:
			failed++
			errs[o.err.Error()]++
			if !faultClear(o.err) {
				t.Errorf("run %d failed with an unclear error: %v", i, o.err)
			}
		case !o.res.Success():
			t.Errorf("run %d: /bin/true ended %v", i, o.res)
		default:
			ok++
		}
	}
	t.Logf("%d runs of /bin/true, %d at a time, half with a cgroup: %d succeeded, %d failed, in %v", total, inFlight, ok, failed, wall.Round(time.Millisecond))
	for e, n := range errs {
		t.Logf("  %d× %s", n, e)
	}
}

// faultClear reports whether err says what failed: one of the library's
// typed errors, or a "sandbox: ..." error wrapping its cause.
func faultClear(err error) bool {
	var se *sandbox.SetupError
	var fe *sandbox.FeatureError
	var oe *sandbox.OptionError
	if errors.As(err, &se) || errors.As(err, &fe) || errors.As(err, &oe) {
		return true
	}
	return strings.HasPrefix(err.Error(), "sandbox: ") && errors.Unwrap(err) != nil
}
