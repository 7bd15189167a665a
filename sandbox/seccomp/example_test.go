package seccomp_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/seccomp"
)

// Parse a profile, print it back, and run a command under it.
func ExampleParseProfile() {
	profile := `
# applied over the default profile, in order
allow kcmp                          # compare file descriptors
errno EXDEV getcwd
kill getppid, bpf
errno EAFNOSUPPORT socket arg0 == 2 # no AF_INET sockets
allow personality arg0 &= 0xffffffff == 0
`
	sc, err := seccomp.ParseProfile(strings.NewReader(profile))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Print it back in the profile format.
	ops := map[seccomp.Op]string{seccomp.Equal: "==", seccomp.NotEqual: "!=",
		seccomp.Less: "<", seccomp.LessEqual: "<=", seccomp.Greater: ">",
		seccomp.GreaterEqual: ">="}
	for _, r := range sc.Rules {
		line := r.Action.String() + " " + strings.Join(r.Syscalls, ",")
		for _, a := range r.Args {
			if a.Op == seccomp.MaskedEqual {
				line += fmt.Sprintf(" arg%d &= %#x == %d", a.Index, a.Mask, a.Value)
			} else {
				line += fmt.Sprintf(" arg%d %s %d", a.Index, ops[a.Op], a.Value)
			}
		}
		fmt.Println(line)
	}

	// Run a command under it: realpath needs getcwd.
	cmd := sandbox.Command("realpath", ".")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	p, err := sandbox.New(sandbox.Options{Seccomp: sc}).Run(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, _ := p.Wait()
	fmt.Println(res)
	// Output:
	// allow kcmp
	// errno EXDEV getcwd
	// kill getppid,bpf
	// errno EAFNOSUPPORT socket arg0 == 2
	// allow personality arg0 &= 0xffffffff == 0
	// realpath: .: Invalid cross-device link
	// exit status 1
}
