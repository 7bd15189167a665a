package sandbox

// A command Exec'd into a Box: its start, its Wait, its Result.

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// boxWaitDelay is how long Wait gives the copies of an Exec'd command's
// output, once the command has exited, to reach EOF; then it closes the
// host's ends of the pipes (os/exec's Cmd.WaitDelay).
const boxWaitDelay = 500 * time.Millisecond

// Exec starts cmd in the Box and returns once it runs (or could not be
// started); use the Process to wait for it. It is ExecContext with
// context.Background().
func (x *Box) Exec(cmd *Cmd) (*Process, error) {
	return x.ExecContext(context.Background(), cmd)
}

// ExecContext starts cmd in the Box, as Sandbox.Run would in a sandbox of
// its own: its stdio follows the same rules (os/exec's conventions, pipes
// for what is not an *os.File, ExtraFiles), Limits.Output bounds its own
// output, and its Process has its own Wait and Result (exit status, the
// CPU time and MaxRSS of its rusage, the time from ExecContext to its
// exit). Any number may run at once. Cancelling ctx kills that command
// (its process group), not the Box.
//
// The command runs in the Box's cgroup (its limits count it with every
// other command of the Box) as a session and process group of its own:
// Process.Signal and Kill reach it and its process group only. When it
// exits, what it left running in the background goes on (as with docker
// exec) until it exits or the Box ends. Such a process may hold the
// command's stdout or stderr: Wait then waits 500 ms for the output to
// reach its end (longer while the pipes hold output still to copy, for a
// slow Stdout), closes the host's ends of the pipes (that process's
// later writes fail with EPIPE), and returns the Result with an error
// wrapping exec.ErrWaitDelay; give such a process output of its own
// (redirect it) to avoid that. Result.Cgroup is empty and
// Result.MemoryPeak is the command's MaxRSS: the cgroup is the whole
// Box's (see Box.Stats). Result.Limit, OOMKilled and PidsLimitHit say
// when the Box's Memory or Pids limit hit the command (accountBoxed).
//
// After the Box has ended, ExecContext returns an error matching
// ErrBoxDone. When the Box ends while the command runs, Wait returns
// with the command killed and an error matching ErrBoxDone.
func (x *Box) ExecContext(ctx context.Context, cmd *Cmd) (*Process, error) {
	if err := cmd.validate(x.b.sb.opts.Image != ""); err != nil {
		return nil, err
	}
	if cmd.CopyIn != nil || len(cmd.CopyOut) > 0 {
		return nil, &OptionError{"Cmd.CopyIn", nil, "Cmd.CopyIn and CopyOut are for Run: a Box's files go in and out at any time, with Box.CopyIn and Box.CopyOut"}
	}
	if x.ending() {
		return nil, x.doneError()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := newProcess(x.b, time.Now())
	p.boxed = x
	p.counts = x.counts()
	if err := p.startCommand(cmd); err != nil {
		p.closeStdin()
		return nil, err
	}
	p.watch(ctx)
	return p, nil
}

// started is the end of startCommand for a command Exec'd into x, whose
// Exec was sent with sendErr: it waits for the init to report the command
// started, and starts the watch on its output. An error ends the command's
// run, not the Box.
func (x *Box) started(p *Process, cmd *Cmd, sendErr error) error {
	b := x.b
	if sendErr != nil {
		b.detach(p)
		if x.ending() || b.readError() != nil {
			<-x.done
			return x.doneError()
		}
		return fmt.Errorf("sandbox: %w", sendErr)
	}
	m, ok := <-p.msgs
	switch {
	case !ok: // the Box ended before the command started
		<-x.done
		return x.doneError()
	case m.Failed != nil:
		b.detach(p)
		f := m.Failed
		return &SetupError{Step: f.Step, Path: f.Path, Errno: syscall.Errno(f.Errno), Message: f.Message}
	case m.Started == nil:
		b.detach(p)
		return fmt.Errorf("sandbox: init answered the command with an unexpected message")
	}
	p.cmdPid = m.Started.Pid
	if cmd.TTY != nil {
		if err := p.receiveTerminal(cmd); err != nil { // tty.go: by run, among the Box's
			p.signalCommand(syscall.SIGKILL)
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	if cg := b.res.cg; cg != nil {
		// Once, after the first command started (cgroup.Sandbox.Settle).
		x.settleOnce.Do(func() { x.settleErr = cg.Settle() })
		if x.settleErr != nil {
			// The Box's limits cannot be trusted: it ends, as a Run's
			// sandbox would.
			err := fmt.Errorf("sandbox: cgroup %s: %w", cg.Path(), x.settleErr)
			p.closeTerminal()
			x.end(err)
			return err
		}
	}
	p.enforce()
	return nil
}

// detach ends p's run for the reader, if it is still attached: no message
// about it will come (its command never started).
func (b *booted) detach(p *Process) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.runs[p.run] == p {
		delete(b.runs, p.run)
		p.detached()
	}
}

// waitBoxed is Wait for a command Exec'd into a Box: the command's end
// is the run's; the Box goes on.
func (p *Process) waitBoxed() {
	x := p.boxed
	ex := p.exited() // nil when the Box ended first
	wall := time.Since(p.start)
	p.closeStdin()
	p.stopWatch()
	cut := p.awaitCopies(boxWaitDelay)
	p.closeTerminal()
	r := &Result{ExitCode: -1, Signal: syscall.SIGKILL, Wall: wall}
	if ex != nil {
		r = newResult(ex, nil, wall)
	}
	ctxErr := p.end(r)
	switch {
	case ex == nil:
		<-x.done
		p.err = x.doneError()
	case ctxErr != nil:
		p.err = fmt.Errorf("sandbox: killed: %w", ctxErr)
	case ex.CopyOut != nil: // a copy alone (box_files.go)
		p.err = copyFailed(ex.CopyOut, "copyout") // named by Box.copy
	case cut:
		p.err = fmt.Errorf("sandbox: %w: a process the command left running still held its output", exec.ErrWaitDelay)
	case p.copyErr.Load() != nil:
		p.err = fmt.Errorf("sandbox: copying output: %w", *p.copyErr.Load())
	}
	p.result = r
	close(p.done)
}

// awaitCopies waits for the copies of the output to end; once delay
// passes with no output left in the pipes, it closes the host's ends of
// the pipes, waits for the copies to stop, and reports true.
func (p *Process) awaitCopies(delay time.Duration) (cut bool) {
	copied := make(chan struct{})
	go func() {
		p.copies.Wait()
		close(copied)
	}()
	for {
		select {
		case <-copied:
			return false
		case <-time.After(delay):
		}
		// Output still in a pipe is the command's, waiting for a slow
		// writer (a network connection, say): wait on. Empty pipes that
		// did not end are held by a process left running: cut them.
		if !p.outputPending() {
			break
		}
	}
	p.cutOff.Store(true)
	for _, r := range p.outReaders {
		r.Close()
	}
	p.closeTerminal() // a process left in the background may hold the pty's other end
	<-copied
	return true
}

// boxCounts are a Box's cgroup counters of the limits it enforces: OOM
// kills and forks refused at the pids limit.
type boxCounts struct {
	ok        bool // read: the Box has a cgroup and a Memory or Pids limit
	oom, pids uint64
}

// counts reads the Box's counters, where it has a cgroup and limits that
// count.
func (x *Box) counts() boxCounts {
	cg := x.b.res.cg
	if x.noCgroup != nil || cg == nil || x.lim.Memory == 0 && x.lim.Pids == 0 {
		return boxCounts{}
	}
	st := cg.Stats()
	return boxCounts{ok: true, oom: st.OOMKills, pids: st.PidsMax}
}

// accountBoxed fills in r's accounting for a command Exec'd into a Box:
// from its rusage, the Box's cgroup being all its commands'. The limits of
// the Box's cgroup are its commands' together: a command during whose
// life the OOM killer killed a process of the Box hit Limits.Memory
// (OOMKilled, LimitMemory), and one during whose life forks were refused
// at Limits.Pids hit that (LimitPids), as for Run. With several commands
// at once, a kill or a refused fork counts in each that ran at the time.
func (p *Process) accountBoxed(r *Result) {
	if r.Signal != 0 {
		r.Limit = p.limit
	}
	if c0 := p.counts; c0.ok {
		if c := p.boxed.counts(); c.ok {
			r.OOMKilled = c.oom > c0.oom
			r.PidsLimitHit = c.pids > c0.pids
			switch {
			case r.Limit != "":
			case r.OOMKilled:
				r.Limit = LimitMemory
			case r.PidsLimitHit:
				r.Limit = LimitPids
			}
		}
	}
	r.TimedOut = r.Limit == LimitTime
	r.CPUTime = r.UserTime + r.SystemTime
	r.MemoryPeak = r.MaxRSS
	r.Degraded = p.box.res.degraded
	if p.out != nil {
		r.OutputTruncated = p.out.wasTruncated()
	}
}

// Stats are live figures of a Box, from its cgroup.
type Stats struct {
	// CPUTime is the CPU time (user and system) of the Box's commands
	// since it started, and InitCPUTime its init's (all its threads').
	CPUTime, InitCPUTime time.Duration
	// Memory is the memory, in bytes, the Box's commands use now, and
	// MemoryPeak the most they used at once; -1 and 0 where the cgroup
	// has no memory controller.
	Memory, MemoryPeak int64
	// Processes is how many processes (not threads) of the Box run now,
	// its init not counted.
	Processes int
	// OOMKills counts the processes the OOM killer killed at
	// Limits.Memory, and PidsLimitHits the forks refused at Limits.Pids.
	OOMKills, PidsLimitHits uint64
}

// Stats returns live figures of the Box, for a host to poll. Where the Box
// has no cgroup (none could be had here, and no limit needed one) it
// returns a *FeatureError (matching ErrNotSupported) that says why and
// what would give it one. Once the Box has ended it returns an error
// matching ErrBoxDone.
func (x *Box) Stats() (Stats, error) {
	if x.ending() {
		return Stats{}, x.doneError()
	}
	if x.noCgroup != nil {
		return Stats{}, x.noCgroup
	}
	cg := x.b.res.cg
	u, err := cg.Usage()
	if err != nil {
		if x.ending() {
			return Stats{}, x.doneError()
		}
		return Stats{}, fmt.Errorf("sandbox: box stats: %w", err)
	}
	cs := cg.Stats()
	st := Stats{CPUTime: cs.CPU, Memory: u.Memory, MemoryPeak: cs.MemoryPeak, Processes: u.Processes,
		OOMKills: cs.OOMKills, PidsLimitHits: cs.PidsMax}
	st.InitCPUTime, _ = x.b.cpuTime()
	return st, nil
}

// outputPending reports whether an output pipe still holds bytes to copy.
func (p *Process) outputPending() bool {
	for _, r := range p.outReaders {
		raw, err := r.SyscallConn()
		if err != nil {
			continue
		}
		n := 0
		raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }) // FIONREAD
		if n > 0 {
			return true
		}
	}
	return false
}
