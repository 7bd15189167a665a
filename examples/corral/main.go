// Command corral runs a command in a Corral sandbox, in the manner of
// bubblewrap or nsjail, and shows what the library does.
//
//	corral run [flags] -- COMMAND [ARG...]
//	corral run --image REF [--entrypoint PROG] [flags] [-- ARG...]
//	corral check
//	corral pull REF
//	corral images [ls | prune [--all] | rm REF...]
//
// The command's stdin, stdout and stderr are pipes that corral copies from
// and to its own, so that the command cannot change corral's files or
// terminal; --stdio inherit passes them as they are. --json-fd N writes the
// result as JSON to fd N, where the command cannot write. --allow-net
// RULE (or --net egress) gives the command a network that reaches only the
// allowed names and ports (package sandbox/egress); --net-log writes what
// it tried, --publish forwards a host port to one of its servers.
//
// Exit status: the command's own; 128+N when a signal N killed it; 125 when
// the sandbox could not be set up (bad flags included); 126 when the command
// cannot be executed; 127 when it is not found.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/corral-dev/corral/sandbox"
)

const usage = `usage:
  corral run [flags] -- COMMAND [ARG...]   run COMMAND in a new sandbox
  corral run --image REF [-- ARG...]       run the container image REF (docker run's way)
  corral check                             print what this host supports
  corral pull [-q] REF                     pull a container image into the cache
  corral images [ls]                       list the cached images
  corral images prune [--all]              remove unnamed (--all: unused) images
  corral images rm REF...                  remove images from the cache

run 'corral run -h' for the flags
`

func main() {
	sandbox.Main()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(exitSetup)
	}
	switch os.Args[1] {
	case "run":
		// A write to a closed stdout or stderr then fails with EPIPE
		// instead of killing corral: the copy stops, and the command gets
		// its SIGPIPE at its next write, as it would without a sandbox.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		os.Exit(run(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	case "check":
		os.Exit(check(os.Stdout))
	case "pull":
		os.Exit(pull(os.Args[2:], os.Stdout, os.Stderr))
	case "images":
		os.Exit(images(os.Args[2:], os.Stdout, os.Stderr))
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "corral: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(exitSetup)
	}
}

func check(w *os.File) int {
	r := sandbox.Check()
	fmt.Fprintln(w, r.String())
	if err := r.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "corral:", err)
		return 1
	}
	return 0
}
