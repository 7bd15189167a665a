// Package isolate holds the steps that run inside a sandbox's new namespaces,
// after the re-exec and before the command starts: bounding the per-user
// counts, building the root filesystem, pivot_root, setting the hostname,
// bringing up loopback, confining the thread that starts the command
// (capabilities, Landlock, the seccomp filter) and starting the command;
// and, for a sandbox that runs several commands, resetting it between them.
//
// The sandbox's init (internal/pid1, whose life.go holds the real order,
// every step of it) runs them in this order:
//
//	the init's main thread, first:
//	SetName            the init's name (/proc/1/comm, ps)
//	any thread of the init:
//	LimitUserCounts    the per-user counts of the sandbox's user namespace
//	MakePrivate        mount propagation private, so nothing reaches the host
//	OpenSources        bind sources opened as detached mount trees, before
//	                   anything is mounted over them
//	BuildRoot          a tmpfs (or a given directory, or an image's overlay
//	                   or tmpfs copy) filled with the mounts
//	PivotRoot          switch to it (Root.Staged); the old root is detached
//	SetHostname, LoopbackUp
//	one thread, locked, which alone is confined and starts every command:
//	DropPrivileges     capabilities, securebits, no_new_privs
//	Landlock           the Landlock scopes (signals), with no rules
//	NewRuleset         the Landlock rules, opened; not applied to the thread
//	InstallFilter      the seccomp filter (InstallFilterListener: with a
//	                   listener, for a supervisor outside)
//	                   (and every signal blocked)
//	then, for each command, on that thread:
//	LookPath
//	Ruleset.For        the run's ruleset (on another, unfiltered, thread
//	                   when the caller's seccomp rules may refuse its calls)
//	Start              fork; the child applies the run's ruleset and execs
//	with a reused sandbox, on a thread other than that one:
//	RecordInherited, Record    once, when the sandbox is built
//	Inherited.Restore, Clear   after each command
//	and before each command, on the locked thread: a new IPC namespace
//	(and network namespace, when the last run left sockets), whose
//	LoopbackUp runs on another thread that joins it (internal/pid1's
//	renew.go: these use unshare and setns directly, not isolate)
//
// Each step is usable on its own by a program that creates its namespaces
// some other way; each needs CAP_SYS_ADMIN in the user namespace that owns
// the mount namespace (the re-executed sandbox init has it).
//
// Every failure is an *Error naming the step and the path, wrapping the
// errno, so errors.Is(err, syscall.EPERM) works.
package isolate
