package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
)

// imageCmd is the command of corral run's arguments: without an image
// COMMAND [ARG...]; with one, ARG... after the image's entrypoint (or
// after --entrypoint's program), as docker run takes them.
func imageCmd(ref, entrypoint string, args []string) *sandbox.Cmd {
	switch {
	case ref == "":
		return sandbox.Command(args[0], args[1:]...)
	case entrypoint != "":
		return sandbox.Command(entrypoint, args...)
	}
	return &sandbox.Cmd{Args: args}
}

// Exit statuses of corral itself, as docker run has them.
const (
	exitSetup    = 125 // the sandbox could not be set up
	exitNoExec   = 126 // the command cannot be executed
	exitNotFound = 127 // the command was not found
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run parses the flags of "corral run", runs the command and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	logOut := stderr // corral's own, for --net-log -
	fl := flag.NewFlagSet("corral run", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var env listFlag
	var mounts mountFlags // --ro, --rw and --tmpfs, in the order given
	fl.Func("ro", "read-only bind `SRC[:DST]` (repeatable)", mounts.add("ro"))
	fl.Func("rw", "read-write bind `SRC[:DST]` (repeatable)", mounts.add("rw"))
	fl.Func("tmpfs", "extra tmpfs `DST[:SIZE]`, e.g. /scratch:16M (repeatable)", mounts.add("tmpfs"))
	fl.Var(&env, "env", "set a variable `KEY=VALUE` (repeatable); nothing of corral's environment is passed but TERM with --stdio inherit on a terminal, and PATH, HOME (/work), USER, LOGNAME and LANG default as a login sets them")
	root := fl.String("root", "", "use `DIR` as the root filesystem")
	imageRef := fl.String("image", "", "run in container image `REF` (registry reference, OCI layout directory or docker save archive; pulled into corral's image cache unless there): the arguments after the flags replace the image's cmd, as with docker run")
	entrypoint := fl.String("entrypoint", "", "with --image, run `PROG` instead of the image's entrypoint, with the arguments after the flags")
	chdir := fl.String("chdir", "", "working `DIR` inside the sandbox (default /work)")
	hostname := fl.String("hostname", "corral", "host `NAME` inside the sandbox")
	var netf netFlags // net.go: --net, --allow-net, --net-log, --publish
	netf.register(fl)
	seccompFlag := fl.String("seccomp", "default", "system-call filter: default, off (none) or the rules in a profile `FILE`, applied over the default (format: go doc sandbox/seccomp.ParseProfile)")
	jsonFD := fl.Int("json-fd", -1, "write the result as one JSON object to file descriptor `FD` (3 or above, e.g. 3>result.json) after the command ends; the command cannot write there")
	stdio := fl.String("stdio", "pipe", "the command's stdin, stdout and stderr: pipe (copied through pipes; corral's own files stay out of its reach) or inherit (corral's own, passed as they are)")
	var lim sandbox.Limits
	fl.Func("memory", "memory limit `SIZE`, e.g. 64M (swap off)", sizeFlag(&lim.Memory))
	fl.Int64Var(&lim.Pids, "pids", 0, "most processes and threads `N`")
	fl.Float64Var(&lim.CPUs, "cpus", 0, "CPU bandwidth in `CORES`, e.g. 0.5")
	fl.DurationVar(&lim.Time, "time", 0, "wall-clock limit `DURATION`, e.g. 2s: then the whole tree is killed")
	fl.DurationVar(&lim.CPUTime, "cpu-time", 0, "CPU-time limit `DURATION`, summed over every process")
	fl.Func("output", "most bytes `SIZE` of stdout and stderr together, e.g. 1M", sizeFlag(&lim.Output))
	cgroupParent := fl.String("cgroup-parent", "", "create cgroups under `PATH` (relative: beneath this process's own cgroup)")
	degrade := fl.Bool("degrade", false, "without a usable cgroup, fall back to rlimits instead of failing")
	var caps listFlag
	fl.Var(&caps, "cap", "keep capability `NAME` (e.g. NET_BIND_SERVICE; repeatable); default none")
	landlockFlag := fl.String("landlock", "auto", "Landlock layer: auto, off or required")
	denials := fl.Bool("log-denials", false, "print each system call the filter refuses to stderr, one line each: the call, its raw arguments, the errno it got and the caller's pid")
	tty := fl.Bool("t", false, "give the command a terminal of the sandbox's own, driven by corral's (stdin must be a terminal; --stdio does not apply)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: corral run [flags] -- COMMAND [ARG...]\n       corral run --image REF [--entrypoint PROG] [flags] [-- ARG...]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitSetup
	}
	switch {
	case *imageRef == "" && *entrypoint != "":
		fmt.Fprintln(stderr, "corral: --entrypoint needs --image: it replaces the image's entrypoint")
		return exitSetup
	case *imageRef != "" && *root != "":
		fmt.Fprintln(stderr, "corral: --image and --root both name the root filesystem: give one")
		return exitSetup
	case *imageRef == "" && fl.NArg() == 0:
		fmt.Fprintln(stderr, "corral: no command given; usage: corral run [flags] -- COMMAND [ARG...]")
		return exitSetup
	}
	var result *os.File // where --json-fd writes
	if *jsonFD != -1 {
		f, err := resultFile(*jsonFD)
		if err != nil {
			fmt.Fprintln(stderr, "corral:", err)
			return exitSetup
		}
		defer f.Close()
		result = f
	}
	switch {
	case *tty:
		if term, ok := os.LookupEnv("TERM"); ok && !hasEnv(env, "TERM") {
			env = append(env, "TERM="+term)
		}
	case *stdio == "pipe":
		// Hidden behind other types, corral's files are copied through
		// pipes: the command cannot change them (their mode, size, times,
		// terminal settings) nor reopen them.
		if f, ok := stdin.(*os.File); ok && isTerminal(f) {
			stdin = foreground{f}
		}
		same := sameFile(stdout, stderr)
		stdin, stdout, stderr = reader{stdin}, writer{stdout}, writer{stderr}
		if same { // 2>&1, or one terminal: one pipe keeps the order of the lines
			stderr = stdout
		}
	case *stdio == "inherit":
		// The command drives corral's terminal itself: it gets corral's
		// TERM, as su - keeps it, unless --env sets one. (Through pipes it
		// has no terminal, and no TERM.)
		if term, ok := os.LookupEnv("TERM"); ok && !hasEnv(env, "TERM") && anyTerminal(stdin, stdout, stderr) {
			env = append(env, "TERM="+term)
		}
	default:
		fmt.Fprintf(stderr, "corral: --stdio %q: want pipe or inherit\n", *stdio)
		return exitSetup
	}
	opts := sandbox.Options{Root: *root, Hostname: *hostname, Limits: lim, CgroupParent: *cgroupParent, Degrade: *degrade, Capabilities: caps}
	if *imageRef != "" {
		// An image not in the cache yet is pulled as the sandbox boots,
		// with corral pull's progress bar on a terminal.
		st, err := openStore(newPullBar(logOut, *imageRef, false).report)
		if err != nil {
			fmt.Fprintln(stderr, "corral:", err)
			return exitSetup
		}
		opts.Image, opts.Images = *imageRef, st
	}
	switch *landlockFlag {
	case "auto":
	case "off":
		opts.Landlock = sandbox.LandlockOff
	case "required":
		opts.Landlock = sandbox.LandlockRequired
	default:
		fmt.Fprintf(stderr, "corral: --landlock %q: want auto, off or required\n", *landlockFlag)
		return exitSetup
	}
	if err := netf.apply(fl, &opts, logOut); err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return exitSetup
	}
	defer netf.close()
	switch *seccompFlag {
	case "default":
	case "off":
		opts.Seccomp.Disabled = true
	default:
		sc, err := readSeccompProfile(*seccompFlag)
		if err != nil {
			fmt.Fprintln(stderr, "corral:", err)
			return exitSetup
		}
		opts.Seccomp = sc
	}
	if *denials && !logDenials(&opts, &stderr) {
		return exitSetup
	}
	if err := mounts.apply(&opts); err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return exitSetup
	}

	cmd := imageCmd(*imageRef, *entrypoint, fl.Args())
	cmd.Env, cmd.Dir = env, *chdir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if *tty {
		if err := terminalCmd(cmd, stdin, stdout); err != nil {
			fmt.Fprintln(stderr, "corral:", err)
			return exitSetup
		}
	}

	var ht *hostTerminal // nil without -t
	if *tty {
		var err error
		if ht, err = rawTerminal(stdin.(*os.File)); err != nil {
			fmt.Fprintln(stderr, "corral: -t:", err)
			return exitSetup
		}
		defer ht.restore()
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	p, err := sandbox.New(opts).RunContext(ctx, cmd)
	if err != nil {
		ht.restore() // the message, in the terminal's own modes
		fmt.Fprintln(stderr, "corral:", err)
		switch {
		case isExec(err) && errors.Is(err, fs.ErrNotExist):
			return exitNotFound
		case isExec(err):
			return exitNoExec
		}
		return exitSetup
	}
	if ht != nil {
		ht.forward(p)
	}
	if err := netf.start(p); err != nil {
		p.Kill()
		p.Wait()
		ht.restore()
		fmt.Fprintln(stderr, "corral:", err)
		return exitSetup
	}
	// Signals to corral go to the command, as they would without a sandbox.
	// With -t, a signal to corral itself (its terminal sends none in raw
	// mode) ends the session: the run is killed and the terminal restored.
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	go func() {
		for s := range sigc {
			p.Signal(s)
			if *tty {
				p.Kill()
			}
		}
	}()
	res, err := p.Wait()
	signal.Stop(sigc)
	close(sigc)
	if err != nil && !errors.Is(err, syscall.EPIPE) { // a closed stdout ends the command as it would without corral
		fmt.Fprintln(stderr, "corral:", err)
	}
	if result != nil {
		err := json.NewEncoder(result).Encode(map[string]any{
			"exit_code":         res.ExitCode,
			"signal":            res.SignalName(),
			"oom_killed":        res.OOMKilled,
			"timed_out":         res.TimedOut,
			"limit":             res.Limit,
			"wall_ms":           ms(res.Wall),
			"cpu_ms":            ms(res.CPUTime),
			"memory_peak_bytes": res.MemoryPeak,
			"output_truncated":  res.OutputTruncated,
			"pids_limit_hit":    res.PidsLimitHit,
			"cgroup":            res.Cgroup,
			"degraded":          res.Degraded,
		})
		if err != nil {
			fmt.Fprintln(stderr, "corral: --json-fd:", err)
		}
	}
	if res.Signal != 0 {
		return 128 + int(res.Signal)
	}
	return res.ExitCode
}

// reader and writer hide an *os.File from the library, which then gives
// the command a pipe instead of the file.
type (
	reader struct{ io.Reader }
	writer struct{ io.Writer }
)

// foreground reads a terminal only while corral is in its foreground
// process group: in the background, a read would stop corral (SIGTTIN)
// even when the command never reads its stdin.
type foreground struct{ f *os.File }

func (r foreground) Read(p []byte) (int, error) {
	fd := int(r.f.Fd())
	for {
		// ENOTTY: not corral's controlling terminal, which reads never stop.
		pg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
		if err != nil || pg == unix.Getpgrp() {
			return r.f.Read(p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sameFile reports whether a and b are files of the same inode.
func sameFile(a, b io.Writer) bool {
	fa, ok := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok || !ok2 {
		return false
	}
	sa, err := fa.Stat()
	sb, err2 := fb.Stat()
	return err == nil && err2 == nil && os.SameFile(sa, sb)
}

// anyTerminal reports whether any of the values is a terminal *os.File.
func anyTerminal(files ...any) bool {
	for _, v := range files {
		if f, ok := v.(*os.File); ok && isTerminal(f) {
			return true
		}
	}
	return false
}

// hasEnv reports whether env sets key.
func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// resultFile returns a file for --json-fd: a close-on-exec duplicate of fd,
// which is itself made close-on-exec so that not even the sandbox's init
// holds it. The command's stdio (0, 1 and 2) is refused: the command could
// write there.
func resultFile(fd int) (*os.File, error) {
	if fd <= 2 {
		return nil, fmt.Errorf("--json-fd %d: the command writes to fds 0, 1 and 2; open another, e.g. --json-fd 3 3>result.json", fd)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("--json-fd %d: %w", fd, err)
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(dup), fmt.Sprintf("--json-fd %d", fd)), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sizeFlag parses a size flag into *n.
func sizeFlag(n *int64) func(string) error {
	return func(s string) error {
		v, err := parseSize(s)
		*n = v
		return err
	}
}

func isExec(err error) bool {
	var se *sandbox.SetupError
	return errors.As(err, &se) && se.Step == "exec"
}

// readSeccompProfile parses the seccomp profile in file; its errors name the file.
func readSeccompProfile(file string) (seccomp.Profile, error) {
	f, err := os.Open(file)
	if err != nil {
		return seccomp.Profile{}, fmt.Errorf("--seccomp: %w", err)
	}
	defer f.Close()
	sc, err := seccomp.ParseProfile(f)
	if err != nil {
		return seccomp.Profile{}, fmt.Errorf("%s: %w", file, err)
	}
	return sc, nil
}
