package egress_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/egress"
)

// A Box whose commands reach pypi.org and files.pythonhosted.org on port
// 443 and nothing else, with its web server published on the host.
func Example_forward() {
	policy, err := egress.NewPolicy(
		egress.Rule{Host: "pypi.org", Port: 443},
		egress.Rule{Host: "files.pythonhosted.org", Port: 443},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	policy.Events = func(e egress.Event) {
		if !e.Allowed {
			fmt.Println("refused:", e.Kind, e.Name, e.Addr, e.Reason)
		}
	}
	sb := sandbox.New(sandbox.Options{Network: sandbox.NetworkEgress, Egress: policy})
	box, err := sb.Start(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer box.Stop()
	if _, err := box.Exec(sandbox.Command("/usr/bin/python3", "-m", "http.server", "8000")); err != nil {
		fmt.Println(err)
		return
	}
	ln, err := box.Forward("127.0.0.1:0", 8000) // closed by Stop
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		fmt.Println(err) // python may still be starting
		return
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	fmt.Println(resp.Status)
}
