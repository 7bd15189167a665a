package sandbox_test

import (
	"fmt"
	"os"
	"sync"

	"github.com/corral-dev/corral/sandbox"
)

func ExampleOptions_denials() {
	// A program that fails inside says why: each refused call is reported.
	var mu sync.Mutex
	var refused []string
	sb := sandbox.New(sandbox.Options{Denials: func(d sandbox.Denial) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, fmt.Sprintf("%s(%#x) = %v", d.Syscall, d.Args[0], d.Errno))
	}})
	cmd := sandbox.Command("/bin/sh", "-c", "unshare --user true 2>/dev/null || echo unshare failed")
	cmd.Stdout = os.Stdout
	p, err := sb.Run(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Wait() // the run's refusals are reported by then
	mu.Lock()
	defer mu.Unlock()
	fmt.Println(refused)
	// Output:
	// unshare failed
	// [unshare(0x10000000) = operation not permitted]
}
