package adversarial

// Faults: the host of a Box (sandbox.Start) is killed with SIGKILL while
// commands it Exec'd run, one of them having exited and left a process in
// the background; every process of the Box must die with it, as a Run's.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

func TestFaultHostKilledBox(t *testing.T) {
	faultStart(t)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	for _, limited := range []bool{false, true} {
		t.Run("box"+faultLimName(limited), func(t *testing.T) {
			faultHostKill(t, "box", limited, 0)
		})
	}
}

func init() { attacks["host-box"] = faultHostBox }

// faultHostBox is a host program that starts a Box, Execs faultScript into
// it and a command that leaves a sleep in the background and exits, then
// prints its tree (as faultHost does) and dies by SIGKILL.
func faultHostBox(args []string) int {
	opts := sandbox.Options{}
	if len(args) > 0 && args[0] == "limited" {
		opts = faultLimited(sandbox.Limits{Pids: 64})
	}
	fmt.Println("run")
	x, err := sandbox.New(opts).Start(context.Background())
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("init", x.Pid())
	bg, err := x.Exec(sandbox.Command("/bin/sh", "-c", "sleep 1000 >/dev/null 2>&1 &"))
	if err == nil {
		_, err = bg.Wait()
	}
	if err == nil {
		_, err = x.Exec(sandbox.Command("/bin/sh", "-c", faultScript))
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	if len(faultWaitTree(x.Pid(), 5)) < 5 { // init, the background sleep, sh, two sleeps
		fmt.Println("error: the Box's tree did not appear:", faultTree(x.Pid()))
		return 1
	}
	fmt.Println("cgroups", strings.Join(faultOwnCgroups(os.Getpid()), " "))
	fmt.Println("tree", faultPids(faultTree(os.Getpid())))
	unix.Kill(os.Getpid(), unix.SIGKILL)
	select {}
}
