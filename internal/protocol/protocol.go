// Package protocol is the one exchange between the host and the sandbox's
// init process (pid 1, package internal/pid1), and its wire: the messages
// below and nothing else. The host re-executes its own binary (InitAttr)
// with two sockets open and one environment entry, the marker (Marker:
// EnvMarker=3,4), which names both by fd: the protocol socket, a unix
// stream socket carrying one Message after another (wire.go: their
// binary encoding), and the fd socket (seqpacket) that carries each
// command (Exec) with its files, as
// SCM_RIGHTS: its stdin, stdout, stderr and ExtraFiles, then its cgroup's.
// The init's thread that starts commands waits on the fd socket alone, so
// a command reaches it with no hand-off between the init's threads.
//
//	host (sandbox.Run / a pool)                sandbox init (internal/pid1)
//	---------------------------                ----------------------------
//	Spec{Version, Mounts, Filter, ...}   --->  builds the namespaces' contents,
//	                                           pivots, confines the thread that
//	                                           will start the commands
//	                                     <---  Ready{}, or
//	                                           Failed{Step, Path, Errno, Message}
//	   (with Root.Image the root is an overlay over the host's image
//	   directory, or a tmpfs copy of it: the image is never written)
//	   (before its first Ready the init sends the files the host asked for
//	   on the fd socket, in one message (SendHostFiles): the TAP device of
//	   Spec.Link, then the seccomp listener of Spec.Notify)
//	   (a pool stops here until a Run takes the sandbox; a cold Run does not wait)
//	Exec{Run, Command, Cgroup, Files}    --->  extracts Files.CopyIn's tar, then
//	with the command's files (on the           starts the command with them
//	fd socket)
//	                                     <---  Started{Run, Pid}, or
//	                                           Failed{Run, Step, ...}
//	   (with Exec{Terminal} the init opens a pty of the sandbox's devpts
//	   for the command and sends its master on the fd socket before Started)
//	Signal{Run, Signal, Pid}             --->  forwarded to the command
//	  (any number)                             when it exits, kills and reaps
//	                                     <---  what is left of the run, then
//	                                           writes Files.CopyOut's tar to
//	                                           the file CopyOutFile, then
//	                                           Exited{Run, ExitCode, Signal, CopyOut,
//	                                             UserUsec, SystemUsec, MaxRSS}
//	   (with Spec.Reuse the init then renews the namespaces of the runs,
//	   resets the sandbox and answers Ready or Failed again; else it exits)
//	   (after any Failed the init exits)
//	   (with Spec.Live the init serves a live sandbox: it takes Execs while
//	   earlier ones run, kills nothing when a command exits, and reports each
//	   command's Started, Failed (the init goes on) and Exited by its Run)
//	close / host death (EOF)             --->  init exits; the kernel kills
//	                                           everything left in the sandbox
//
// Every field of every message, and of the values in them (a test checks
// that this list and the diagram name each one):
//
//	Message{Spec, Ready, Started, Failed, Signal, Exited}: one of them set
//	Spec{Version, Hostname, Loopback, Root, Mounts, Reuse, Live, UserCounts,
//	  Rlimits, Filter, Capabilities, Landlock, RulesetElsewhere, Scopes,
//	  Link, Notify}
//	Root{Dir, Image, Size, ReadOnly, Copy, WorkDir}
//	Link{Name, MTU, MAC, Addr, Gateway}
//	Mount{Kind, Source, Target, ReadOnly, Optional, NoFollow, Size, Mode, Data}
//	UserCount{Name, Max}
//	Rlimit{Resource, Cur, Max, AfterStart}
//	LandlockRule{Path, Write, Devices}
//	Command{Path, Args, Env, Dir, ExtraFiles}
//	CgroupFiles{Dir, Enter, Leave}
//	CopyFiles{CopyIn, CopyOut, CopyOutFile}
//	Winsize{Rows, Cols}
//
// The values are the wire forms of the isolate package's (convert.go holds
// every conversion), so that the public API and the wire change apart.
//
// EOF from the init before Ready or Failed means it died during set-up.
// There is no other channel. The marker is the init's whole environment;
// the one other variable, EnvProbe, makes the re-executed binary exit 0 at
// once instead (the probe that the namespaces can be made: ProbeCommand).
package protocol

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Version is the protocol version. The host and the child are the same
// binary, so a mismatch means the binary was replaced while it ran.
const Version = 9

// EnvMarker is the environment variable that tells a re-executed binary it is
// a sandbox init; its value names the fds of its two sockets (Marker).
const EnvMarker = "_CORRAL_INIT_FDS"

// EnvProbe tells a re-executed binary to exit 0 at once; Check uses it to
// probe that namespaces can be created. Only pid 1 (of the probe's new pid
// namespace) heeds it: see pid1.Main.
const EnvProbe = "_CORRAL_PROBE"

// Spec is everything the init needs to build the sandbox; the command
// comes later, in Exec.
type Spec struct {
	Version  int
	Hostname string
	Loopback bool // bring up lo (new network namespace)
	Root     Root
	Mounts   []Mount
	// Reuse: after a run the init kills what is left, resets the sandbox
	// and reports Ready again, for the next Exec.
	Reuse bool
	// Live: the init serves a live sandbox (sandbox.Box): it takes each
	// Exec while earlier commands run, reports each command by its Run,
	// leaves what a command left in the background running when it exits,
	// and goes on after a command fails to start. Never with Reuse.
	Live bool
	// UserCounts are set in the sandbox's user namespace: they bound what
	// the kernel counts per user (inotify, fanotify).
	UserCounts []UserCount
	// Rlimits are set for the command. An RLIMIT_NPROC here counts the
	// command's own tasks: the init adds its own threads, and NprocSlack.
	Rlimits []Rlimit
	// Filter is the seccomp filter (classic BPF) to install just before the
	// command starts; nil means none.
	Filter []byte
	// Capabilities the command keeps (numbers).
	Capabilities []int
	// Landlock rules to confine the command with; nil means none. Each
	// command applies them to itself, with a rule for each file passed to
	// it, in a domain of its own.
	Landlock []LandlockRule
	// RulesetElsewhere: the filter may refuse the launcher the calls that
	// build a Landlock ruleset (the caller's rules name them); another
	// thread builds each run's.
	RulesetElsewhere bool
	// Scopes are the Landlock scopes (isolate.ScopeSignal) of the command's
	// domain, applied with the rules or alone.
	Scopes uint64
	// Link, when set, gives the sandbox's network namespace an interface
	// whose other end is the host's (sandbox.NetworkEgress): a TAP device
	// the init creates and configures, and sends the host (SendHostFiles).
	Link *Link
	// Notify: the filter's refusals are seccomp user notifications
	// (SECCOMP_RET_USER_NOTIF) that the host answers and reports; the init
	// installs it with a listener and sends the host the listener
	// (SendHostFiles). Only with a Filter.
	Notify bool
}

// Link is the interface of a sandbox.NetworkEgress sandbox: a TAP device
// (Ethernet frames, no packet information) named Name, with MTU, the
// hardware address MAC (xx:xx:xx:xx:xx:xx), the address and subnet Addr
// (CIDR, IPv4), a default route through Gateway, and IPv6 off.
type Link struct {
	Name    string
	MTU     int
	MAC     string
	Addr    string
	Gateway string
}

// NprocSlack is room the init adds under an RLIMIT_NPROC of Spec.Rlimits,
// besides its own threads, for threads its Go runtime may start after the
// command: a refused thread would crash the init.
const NprocSlack = 16

// Root is the wire form of isolate.Root: the sandbox's root filesystem.
type Root struct {
	Dir      string // a host directory, bound read-only; empty: a fresh tmpfs
	Image    bool   // Dir is an image's root: an overlay over it, or a copy of it
	Size     int64  // the size of an Image's upper layer (or copy) tmpfs
	ReadOnly bool   // an Image's root is made read-only once built
	Copy     bool   // an Image's root is a copy, overlayfs not tried
	WorkDir  string // an Image's working directory, made if missing
}

// Mount is the wire form of isolate.Mount: one entry of the sandbox's
// filesystem (see there for what each field means for each Kind).
type Mount struct {
	Kind     string // an isolate.Kind: "bind", "tmpfs", ...
	Source   string
	Target   string
	ReadOnly bool
	Optional bool
	NoFollow bool
	Size     int64
	Mode     uint32
	Data     string
}

// UserCount is the wire form of isolate.UserCount: a limit in
// /proc/sys/user of the sandbox's user namespace.
type UserCount struct {
	Name string
	Max  int
}

// Rlimit is the wire form of isolate.Rlimit: a resource limit
// (unix.RLIMIT_*) for the command.
type Rlimit struct {
	Resource   int
	Cur, Max   uint64
	AfterStart bool
}

// LandlockRule is the wire form of isolate.LandlockRule: access granted
// beneath Path.
type LandlockRule struct {
	Path    string
	Write   bool
	Devices bool
}

// Command is the program to run inside the sandbox.
type Command struct {
	Path       string
	Args       []string
	Env        []string
	Dir        string
	ExtraFiles int // how many files besides stdin, stdout and stderr came with Exec
}

// MaxFiles is the most files one Exec can carry (the kernel's SCM_MAX_FD).
const MaxFiles = 253

// Exec hands the init its command. It travels on the fd socket (SendExec),
// with the command's 3+ExtraFiles files followed by the files of its
// cgroup, if any: the thread that starts the command reads it there.
type Exec struct {
	// Run is the run's id, chosen by the host (non-zero): the init's
	// Started, Failed and Exited about the command carry it.
	Run     int
	Command Command
	// Cgroup places the command in its cgroup, naming files that came
	// with this Exec by index (all zero: no cgroup).
	Cgroup CgroupFiles
	// Files moves files in and out of the sandbox around the command.
	Files CopyFiles
	// Terminal, when set, gives the command a pty of the sandbox's own,
	// of this size, as its stdin, stdout, stderr and controlling terminal
	// (the three files sent for them are not used); the init sends the
	// pty's master back on the fd socket (SendTerminal) before Started.
	Terminal *Winsize
}

// Winsize is a terminal's size, in characters.
type Winsize struct{ Rows, Cols uint16 }

// FileCount is how many files come with e: the command's, its cgroup's
// and its copies'.
func (e *Exec) FileCount() int {
	n := 3 + e.Command.ExtraFiles + len(e.Cgroup.Enter) + len(e.Cgroup.Leave)
	for _, i := range []int{e.Cgroup.Dir, e.Files.CopyIn, e.Files.CopyOutFile} {
		if i > 0 {
			n++
		}
	}
	return n
}

// CopyFiles names, by index into the files that came with an Exec (0:
// none), a tar stream to extract before the command starts (CopyIn, a
// pipe's read end), and the pipe's write end (CopyOutFile) to write the
// tar of the names CopyOut to once the command's processes are all dead,
// before Exited. Names are relative to the command's Dir, and both
// resolve beneath it (isolate.ExtractTar, isolate.ArchiveTar); a failure
// is Failed{Step: "copyin"} or Failed{Step: "copyout"}, naming the entry
// in Path.
type CopyFiles struct {
	CopyIn      int
	CopyOut     []string
	CopyOutFile int
}

// CgroupFiles places the command in its cgroup (isolate.Placement), with
// indices into the files that came with its Exec for fds: Dir a cgroup v2
// directory, Enter and Leave cgroup v1 "tasks" files. Dir 0 means none
// (index 0 is the command's stdin).
type CgroupFiles struct {
	Dir          int
	Enter, Leave []int
}

// Ready says the sandbox is built and waits for its command.
type Ready struct{}

// Message is one message on the wire. Exactly one field is set.
type Message struct {
	Spec    *Spec
	Ready   *Ready
	Started *Started
	Failed  *Failed
	Signal  *Signal
	Exited  *Exited
}

// Started says the command is running; Pid is its pid inside the sandbox.
type Started struct{ Run, Pid int }

// Failed reports a step of the init that failed: one of the set-up
// (Step names it, from isolate.Error, or "setup"), of a command's start
// (exec, chdir, LookPath, ...; "files" when its files did not arrive
// whole; "copyin" when Exec.Files's tar stream did not extract, Path
// naming the entry), or of a reset between runs ("reset"). The init exits
// after it, but for a command's in a live sandbox (Spec.Live).
//
// Run is the run whose command failed to start; 0 for a Failed of the
// set-up, of a reset, or of an Exec that did not arrive whole.
type Failed struct {
	Run     int
	Step    string
	Path    string
	Errno   int
	Message string
}

// Signal asks the init to send a signal to the command whose Started gave
// Pid: a late one, for a reused sandbox's earlier run, reaches no later run.
// In a live sandbox it names the command by Run instead, and reaches it
// only while it runs.
type Signal struct{ Run, Signal, Pid int }

// Exited reports how the command ended.
type Exited struct {
	Run        int   // the run whose command exited
	ExitCode   int   // -1 if killed by a signal
	Signal     int   // the signal that killed it, or 0
	UserUsec   int64 // user CPU time of the command and its reaped children
	SystemUsec int64
	MaxRSS     int64 // bytes
	// CopyOut is the failure of the copy out (Exec.Files), if any: the
	// run is reported all the same, and the sandbox may be reused.
	CopyOut *Failed
}

// Conn reads and writes messages (wire.go has their encoding). One
// goroutine may Send while another Recvs; neither is safe for concurrent
// use by several.
type Conn struct {
	w   io.Writer
	r   *bufio.Reader
	buf writer // Send's buffer, reused
}

// NewConn returns a Conn over rw.
func NewConn(rw io.ReadWriter) *Conn {
	return &Conn{w: rw, r: bufio.NewReader(rw)}
}

// Send writes one message, whole, in one write.
func (c *Conn) Send(m Message) error {
	w := &c.buf
	w.b = append(w.b[:0], make([]byte, binary.MaxVarintLen64)...) // room for the length
	if err := w.message(&m); err != nil {
		return err
	}
	body := len(w.b) - binary.MaxVarintLen64
	if body > maxMessage {
		return fmt.Errorf("protocol: message of %d bytes, at most %d", body, maxMessage)
	}
	// The length goes right before the body, in the room left for it.
	var l [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(l[:], uint64(body))
	start := binary.MaxVarintLen64 - n
	copy(w.b[start:], l[:n])
	_, err := c.w.Write(w.b[start:])
	if cap(w.b) > 64<<10 {
		w.b = nil // a spec's buffer is not kept for the small messages after it
	}
	return err
}

// Recv reads one message. It returns io.EOF when the peer closed cleanly,
// between messages; a message cut short is an error wrapping
// io.ErrUnexpectedEOF.
func (c *Conn) Recv() (Message, error) {
	var m Message
	n, err := binary.ReadUvarint(c.r)
	if err == io.EOF {
		return m, err
	}
	if err != nil {
		return m, fmt.Errorf("protocol: %w", err)
	}
	if n == 0 || n > maxMessage {
		return m, fmt.Errorf("protocol: %w: length %d", errMalformed, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return m, fmt.Errorf("protocol: %w", err)
	}
	r := &reader{b: body}
	m = r.message()
	if err := r.end(); err != nil {
		return Message{}, fmt.Errorf("protocol: %w", err)
	}
	if m.Spec != nil && m.Spec.Version != Version {
		return m, fmt.Errorf("protocol: spec version %d, want %d (was the binary replaced while running?)", m.Spec.Version, Version)
	}
	return m, nil
}
