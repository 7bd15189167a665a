// Package isolate holds the steps that run inside a sandbox's new namespaces,
// after the re-exec and before the command starts: building the root
// filesystem, pivot_root, bringing up loopback, setting the hostname,
// dropping privileges and starting the command.
//
// sandbox.Main runs them in this order:
//
//	MakePrivate        mount propagation private, so nothing reaches the host
//	OpenSources        bind sources opened as detached mount trees, before
//	                   anything is mounted over them
//	BuildRoot          a tmpfs (or a given directory) filled with the mounts
//	PivotRoot          switch to it; the old root is detached
//	SetHostname, LoopbackUp
//	DropPrivileges     capabilities, securebits, no_new_privs (this thread)
//	Start              fork and exec the command
//
// Each step is usable on its own by a program that creates its namespaces
// some other way; each needs CAP_SYS_ADMIN in the user namespace that owns
// the mount namespace (the re-executed sandbox init has it).
//
// Every failure is an *Error naming the step and the path, wrapping the
// errno, so errors.Is(err, syscall.EPERM) works.
package isolate
