package sandbox

import (
	"runtime"
	"syscall"
	"time"
)

// enforce starts the host-side watchers of the time, CPU-time and output
// limits. Each ends with the sandbox.
func (p *Process) enforce() {
	if d := p.lim.Time; d > 0 {
		t := time.AfterFunc(d-time.Since(p.start), func() { p.limitHit(LimitTime) })
		go func() { <-p.gone; t.Stop() }()
	}
	if p.out != nil {
		go func() {
			select {
			case <-p.out.hit:
				p.limitHit(LimitOutput)
			case <-p.gone:
			}
		}()
	}
	if p.lim.CPUTime > 0 && p.box.res.cg != nil {
		go p.watchCPU()
	}
}

// watchCPU polls the cgroup's CPU time often enough that the command cannot
// pass the limit by more than 100 ms: with n cores busy, CPU time grows n
// times as fast as wall time.
func (p *Process) watchCPU() {
	cores := float64(runtime.NumCPU())
	if c := p.lim.CPUs; c > 0 && c < cores {
		cores = c
	}
	maxStep := time.Duration(float64(100*time.Millisecond) / cores)
	for {
		used, err := p.box.res.cg.CPU()
		if err != nil {
			return
		}
		used += p.initSpent()
		left := p.lim.CPUTime - used
		if left <= 0 {
			p.limitHit(LimitCPUTime)
			return
		}
		step := min(time.Duration(float64(left)/cores), maxStep)
		select {
		case <-p.gone:
			return
		case <-time.After(max(step, time.Millisecond)):
		}
	}
}

// limitHit records the first host-enforced limit that ended the run and
// kills the sandbox, unless Wait has already accounted for the run.
func (p *Process) limitHit(name string) {
	p.killMu.Lock()
	defer p.killMu.Unlock()
	if p.ended {
		return
	}
	if p.limit == "" {
		p.limit = name
	}
	p.killCommand()
}

// account fills in the Result fields that come from the cgroup and the
// limits. It is called with killMu held.
func (p *Process) account(r *Result) {
	if p.boxed != nil {
		p.accountBoxed(r)
		return
	}
	// A host-enforced limit ends the run with SIGKILL. A command that
	// exited on its own as the limit was reached (a race at the deadline)
	// was not ended by it; its status stands alone.
	if r.Signal != 0 {
		r.Limit = p.limit
	}
	r.CPUTime = r.UserTime + r.SystemTime + p.initUsed
	r.MemoryPeak = r.MaxRSS
	r.Degraded = p.box.res.degraded
	r.Warm = p.warm
	if cg := p.box.res.cg; cg != nil {
		st := cg.Stats()
		r.Cgroup, r.Controllers = cg.Path()+"/cmd", cg.Controllers()
		r.CPUTime = st.CPU + p.initUsed
		if st.MemoryPeak > 0 {
			r.MemoryPeak = st.MemoryPeak
		}
		r.OOMKilled = st.OOMKills > 0
		r.PidsLimitHit = st.PidsMax > 0
		switch {
		case r.Limit != "":
		case r.OOMKilled:
			r.Limit = LimitMemory
		case st.PidsMax > 0:
			r.Limit = LimitPids
		}
	}
	if r.Limit == "" && r.Signal == syscall.SIGXCPU && p.lim.CPUTime > 0 {
		r.Limit = LimitCPUTime // RLIMIT_CPU, in degraded mode
	}
	r.TimedOut = r.Limit == LimitTime
	if p.out != nil {
		r.OutputTruncated = p.out.wasTruncated()
	}
}

// The init's CPU time during a run counts in the run's: a command can make
// its init work for it (signals to pid 1, where the kernel lacks Landlock's
// signal scope), and on cgroup v1 most of the init is outside the sandbox's
// cgroup. The host reads the init's process CPU clock (every thread's),
// when the command has started and when the run ends (booted.cpuTime);
// the init, not reaped yet, still has its clock then.

// initStarted notes the init's CPU time as the command starts.
func (p *Process) initStarted() {
	p.initCPU0, p.initCPUOK = p.box.cpuTime()
}

// initSpent returns the init's CPU time since the command started.
func (p *Process) initSpent() time.Duration {
	now, ok := p.box.cpuTime()
	if !ok || !p.initCPUOK || now < p.initCPU0 {
		return 0
	}
	return now - p.initCPU0
}
