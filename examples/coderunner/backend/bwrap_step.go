package backend

// One step of a bwrap job: the command line, the process and its end, and
// the mapping of that end to a job.Step.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"golang.org/x/sys/unix"
)

// bwrapArgs returns bwrap's arguments for a step that sees the host
// directory host at mount and starts in dir.
func (b *bwrapBackend) bwrapArgs(host, mount, dir string, lang *job.Language, argv []string, lim job.Limits) []string {
	a := []string{"--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1",
		"--uid", "0", "--gid", "0", "--clearenv", "--info-fd", "3"}
	a = append(a, b.view...)
	if lim.Memory > 0 {
		a = append(a, "--size", strconv.FormatInt(lim.Memory, 10))
	}
	// Binds after /tmp: one may lie beneath it.
	a = append(a, "--tmpfs", "/tmp")
	for i, d := range append(b.binds, lang.Binds...) {
		if i < len(b.binds) || !slices.Contains(b.binds, d) {
			a = append(a, "--ro-bind", d, d)
		}
	}
	a = append(a, "--bind", host, mount, "--chdir", dir)
	env := append([]string{"PATH=" + bwrapPath, "HOME=" + mount, "USER=root", "LOGNAME=root", "LANG=C.UTF-8"}, lang.Env...)
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		a = append(a, "--setenv", k, v)
	}
	a = append(a, "--", b.prlimit, "--core=0")
	if lim.CPUTime > 0 {
		a = append(a, "--cpu="+strconv.FormatInt(bwrapCPUSeconds(lim.CPUTime), 10))
	}
	if lim.Memory > 0 {
		m := strconv.FormatInt(lim.Memory, 10)
		a = append(a, "--data="+m, "--fsize="+m)
	}
	if lim.Pids > 0 {
		a = append(a, "--nproc="+strconv.Itoa(lim.Pids))
	}
	return append(append(a, "--"), argv...)
}

// bwrapCPUSeconds is RLIMIT_CPU for a CPU time: whole seconds, rounded up.
func bwrapCPUSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

// bwrapKiller kills a step's sandbox, once, for a reason, until the step
// has been waited for (after which its pids may name other processes).
type bwrapKiller struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	pidfd  int // the sandbox's pid 1, once bwrap has told it; else -1
	done   bool
	reason string // the limit that made it kill, or "canceled"
}

func (k *bwrapKiller) kill(reason string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done || k.reason != "" {
		return
	}
	k.reason = reason
	// The sandbox's pid 1: its death ends every process in the sandbox,
	// and bwrap, which reaps it, ends with its status and rusage.
	if k.pidfd >= 0 && unix.PidfdSendSignal(k.pidfd, unix.SIGKILL, nil, 0) == nil {
		time.AfterFunc(bwrapKillGrace, k.killBwrap)
		return
	}
	k.cmd.Process.Kill()
}

// bwrapKillGrace is how long bwrap has to end after its sandbox's pid 1
// was killed, before it is killed too.
const bwrapKillGrace = 2 * time.Second

// killBwrap kills bwrap itself (and with it, by --die-with-parent, the
// sandbox), unless it has been waited for.
func (k *bwrapKiller) killBwrap() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.done {
		k.cmd.Process.Kill()
	}
}

// setChild records the sandbox's pid 1, and kills it if the step was
// killed before it was known.
func (k *bwrapKiller) setChild(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done {
		unix.Close(fd)
		return
	}
	k.pidfd = fd
	if k.reason != "" { // killed before: bwrap is being killed too
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
}

// finish marks the step waited for and returns why it was killed.
func (k *bwrapKiller) finish() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.done = true
	if k.pidfd >= 0 {
		unix.Close(k.pidfd)
		k.pidfd = -1
	}
	return k.reason
}

// step runs argv within lim in a sandbox that sees the host directory
// host at mount, in dir.
func (b *bwrapBackend) step(ctx context.Context, host, mount, dir string, lang *job.Language, argv []string, stdin []byte, lim job.Limits) (*job.Step, error) {
	cmd := exec.Command(b.bwrap, b.bwrapArgs(host, mount, dir, lang, argv, lim)...)
	cmd.Env = []string{"PATH=" + bwrapPath}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL, // a server killed takes its sandboxes along
		Credential: b.cred,
	}
	cmd.Stdin = bytes.NewReader(stdin)
	k := &bwrapKiller{cmd: cmd, pidfd: -1}
	stdout := &bwrapOutput{max: lim.Output, full: func() { k.kill(job.LimitOutput) }}
	stderr := &bwrapOutput{max: lim.Output, full: func() { k.kill(job.LimitOutput) }}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 2 * time.Second // the sandbox is dead by then; so are its pipes' writers
	infoR, infoW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer infoR.Close()
	cmd.ExtraFiles = []*os.File{infoW}

	start := time.Now()
	err = cmd.Start()
	infoW.Close()
	if err != nil {
		return nil, err
	}
	infoDone := make(chan struct{})
	go func() {
		defer close(infoDone)
		var info struct {
			ChildPid int `json:"child-pid"`
		}
		if json.NewDecoder(infoR).Decode(&info) == nil && info.ChildPid > 0 {
			k.setChild(info.ChildPid)
		}
	}()
	var timer *time.Timer
	if lim.WallTime > 0 {
		timer = time.AfterFunc(lim.WallTime, func() { k.kill(job.LimitWallTime) })
	}
	stop := context.AfterFunc(ctx, func() { k.kill("canceled") })
	werr := cmd.Wait()
	wall := time.Since(start)
	stop()
	if timer != nil {
		timer.Stop()
	}
	infoR.Close()
	<-infoDone
	reason := k.finish()
	if reason == "canceled" {
		return nil, context.Cause(ctx)
	}
	if _, ok := werr.(*exec.ExitError); werr != nil && !ok && cmd.ProcessState == nil {
		return nil, werr
	}
	st := bwrapStep(cmd.ProcessState, lim, reason)
	st.WallTime = wall
	st.Stdout, st.StdoutTruncated = stdout.buf.Bytes(), stdout.truncated
	st.Stderr, st.StderrTruncated = stderr.buf.Bytes(), stderr.truncated
	// Output cut is the output limit's, however the race between the
	// program's exit and the kill went (as the Corral backend's stepOf).
	if st.Limit == "" && (st.StdoutTruncated || st.StderrTruncated) {
		st.Limit = job.LimitOutput
	}
	// bwrap's own failure (a bind it could not make, no user namespaces)
	// is the backend's, not the program's.
	if reason == "" && st.ExitCode == 1 && bytes.HasPrefix(st.Stderr, []byte("bwrap: ")) {
		return nil, fmt.Errorf("%s", bytes.TrimSpace(st.Stderr))
	}
	return st, nil
}

// bwrapStep maps the end of a step's bwrap process to a job.Step: its exit
// status, its rusage (which, the command being bwrap's child, holds the
// command's and its descendants'), and the limit it met. killed is the
// limit for which the backend killed it, if it did.
func bwrapStep(ps *os.ProcessState, lim job.Limits, killed string) *job.Step {
	st := &job.Step{Limit: killed}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		st.CPUTime = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		st.MemoryPeak = ru.Maxrss * 1024
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	switch code := ws.ExitStatus(); {
	case ws.Signaled():
		st.ExitCode, st.Signal = -1, ws.Signal().String()
	case code > 128 && code < 128+65:
		// bwrap exits 128+n when its command was killed by signal n.
		st.ExitCode, st.Signal = -1, syscall.Signal(code-128).String()
	default:
		st.ExitCode = code
	}
	if st.Limit == "" {
		st.Limit = bwrapLimit(st, lim)
	}
	return st
}

// bwrapLimit names the rlimit a failed step met, from its traces: RLIMIT_CPU
// kills with SIGKILL (the command is its sandbox's pid 1, which ignores
// SIGXCPU) once the CPU time reaches it (rusage, on a loaded machine,
// shows up to a fifth less: half the limit and a SIGKILL the backend did not
// send are the sign); a program that met RLIMIT_DATA got
// ENOMEM from an allocation, and its peak is then close to the limit. A
// step that met RLIMIT_NPROC shows nothing but its own error message (fork:
// Resource temporarily unavailable): its limit stays "".
func bwrapLimit(st *job.Step, lim job.Limits) string {
	if st.ExitCode == 0 {
		return ""
	}
	if lim.CPUTime > 0 && (st.Signal == syscall.SIGKILL.String() || st.Signal == syscall.SIGXCPU.String()) &&
		st.CPUTime >= time.Duration(bwrapCPUSeconds(lim.CPUTime))*time.Second/2 {
		return job.LimitCPUTime
	}
	if lim.Memory > 0 && st.MemoryPeak >= lim.Memory*3/4 {
		return job.LimitMemory
	}
	return ""
}

// bwrapOutput keeps the first max bytes written to it (all if max is 0)
// and calls full, once, when more come.
type bwrapOutput struct {
	max       int64
	buf       bytes.Buffer
	truncated bool
	full      func()
}

func (o *bwrapOutput) Write(p []byte) (int, error) {
	n := len(p)
	if o.max > 0 && int64(o.buf.Len()+n) > o.max {
		p = p[:o.max-int64(o.buf.Len())]
		if !o.truncated {
			o.truncated = true
			o.full()
		}
	}
	o.buf.Write(p)
	return n, nil
}
