package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

func ExampleSandbox_Run() {
	cmd := sandbox.Command("/bin/sh", "-c", "echo hello from $(hostname) as uid $(id -u)")
	cmd.Stdout = os.Stdout
	p, err := sandbox.New(sandbox.Options{}).Run(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := p.Wait()
	fmt.Println(res, err)
	// Output:
	// hello from corral as uid 0
	// exit status 0 <nil>
}

func ExampleSandbox_RunContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p, err := sandbox.New(sandbox.Options{}).RunContext(ctx, sandbox.Command("/bin/sleep", "60"))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := p.Wait()
	fmt.Println(res.SignalName(), err)
	// Output: SIGKILL sandbox: killed: context deadline exceeded
}

func ExampleFromExec() {
	// Code that builds an *exec.Cmd (hashicorp/go-plugin does) can run it
	// sandboxed with one conversion.
	c := exec.Command("/bin/echo", "plugin started")
	c.Stdout = os.Stdout
	p, err := sandbox.New(sandbox.Options{}).Run(sandbox.FromExec(c))
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Wait()
	// Output: plugin started
}

func ExampleOptions() {
	opts := sandbox.Options{
		Hostname: "judge",
		Mounts: []sandbox.Mount{
			sandbox.Bind("/etc/os-release", "/input/os-release"), // read-only
			sandbox.Tmpfs("/scratch", 16<<20),                    // 16 MiB, writable
		},
	}
	cmd := sandbox.Command("/bin/sh", "-c", "test -r /input/os-release && touch /scratch/ok && hostname")
	cmd.Stdout = os.Stdout
	p, err := sandbox.New(opts).Run(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Wait()
	// Output: judge
}

func ExampleCheck() {
	if err := sandbox.Check().Err(); err != nil {
		fmt.Println("sandboxes cannot run here:", err)
		return
	}
	fmt.Println("ready")
	// Output: ready
}

func ExampleSandbox_Prewarm() {
	// A code runner keeps 4 sandboxes built ahead of time and reuses them
	// between runs of one tenant: a run costs little more than an exec.
	sb := sandbox.New(sandbox.Options{Pool: 4, Reuse: true})
	defer sb.Close()
	if err := sb.Prewarm(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, src := range []string{"echo one >/tmp/out; cat /tmp/out", "ls /tmp; echo two"} {
		cmd := sandbox.Command("/bin/sh", "-c", src)
		cmd.Stdout = os.Stdout
		p, err := sb.Run(cmd)
		if err != nil {
			fmt.Println(err)
			return
		}
		res, _ := p.Wait()
		fmt.Println(res, "warm:", res.Warm)
	}
	// Output:
	// one
	// exit status 0 warm: true
	// two
	// exit status 0 warm: true
}

func ExampleSandbox_Start() {
	x, err := sandbox.New(sandbox.Options{}).Start(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer x.Stop()
	// What one command leaves, the next finds: the Box is one sandbox.
	for _, script := range []string{"echo 42 > /work/answer", "cat /work/answer"} {
		cmd := sandbox.Command("/bin/sh", "-c", script)
		cmd.Stdout = os.Stdout
		p, err := x.Exec(cmd)
		if err != nil {
			fmt.Println(err)
			return
		}
		if res, err := p.Wait(); err != nil || !res.Success() {
			fmt.Println(res, err)
		}
	}
	fmt.Println(x.Stop(), x.Err())
	_, err = x.Exec(sandbox.Command("/bin/true"))
	fmt.Println(errors.Is(err, sandbox.ErrBoxDone))
	// Output:
	// 42
	// <nil> sandbox: the box was stopped
	// true
}
