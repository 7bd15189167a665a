package pluginrunner_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
	"github.com/corral-dev/corral/sandbox/pluginrunner"
	"github.com/hashicorp/go-hclog"
)

// TestMain makes the test binary the sandbox's init and, with
// PLUGINRUNNER_TEST_PLUGIN set, a stand-in plugin: it reports what it sees
// and waits to be killed.
func TestMain(m *testing.M) {
	sandbox.Main()
	if dir := os.Getenv("PLUGINRUNNER_TEST_PLUGIN"); dir != "" {
		err := os.WriteFile(filepath.Join(dir, "from-plugin"), []byte("hi"), 0o600)
		fmt.Printf("socket dir writable: %v\n", err == nil)
		fmt.Fprintln(os.Stderr, "to stderr")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRunnerFuncRefuses(t *testing.T) {
	if _, err := pluginrunner.RunnerFunc(sandbox.Options{}, nil)(hclog.NewNullLogger(), exec.Command(""), t.TempDir()); err == nil {
		t.Error("a nil cmd was accepted")
	}
	_, err := pluginrunner.RunnerFunc(sandbox.Options{Pool: 2}, exec.Command("/bin/true"))(hclog.NewNullLogger(), exec.Command(""), t.TempDir())
	long := "/tmp/" + strings.Repeat("d", 100)
	if _, err := pluginrunner.RunnerFunc(sandbox.Options{}, exec.Command("/bin/true"))(hclog.NewNullLogger(), exec.Command(""), long); err == nil || !strings.Contains(err.Error(), "UnixSocketConfig.TempDir") {
		t.Errorf("a socket directory too long for socket paths: %v", err)
	}
	var oe *sandbox.OptionError
	if !errors.As(err, &oe) || oe.Field != "Options.Pool" {
		t.Errorf("Pool: %v; want an *OptionError naming Options.Pool", err)
	}
}

// TestRunnerLifecycle drives a Runner as go-plugin does: Start, read the
// plugin's stdout and stderr, Kill, Wait.
func TestRunnerLifecycle(t *testing.T) {
	testutil.RequireSandbox(t, sandbox.Check().Err())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gp := exec.Command("") // what go-plugin passes with a RunnerFunc: only the environment
	gp.Env = []string{"PLUGINRUNNER_TEST_PLUGIN=" + dir}
	r, err := pluginrunner.RunnerFunc(sandbox.Options{}, exec.Command(exe))(hclog.NewNullLogger(), gp, dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID() != "" || r.Kill(context.Background()) != nil {
		t.Errorf("before Start: ID %q; Kill must do nothing", r.ID())
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.ID() == "" || r.Name() != exe {
		t.Errorf("ID %q, Name %q; want a pid and %q", r.ID(), r.Name(), exe)
	}
	line, err := bufio.NewReader(r.Stdout()).ReadString('\n')
	if line != "socket dir writable: true\n" {
		t.Errorf("the plugin's stdout: %q, %v", line, err)
	}
	if line, err := bufio.NewReader(r.Stderr()).ReadString('\n'); line != "to stderr\n" {
		t.Errorf("the plugin's stderr: %q, %v", line, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "from-plugin")); string(b) != "hi" {
		t.Errorf("the file the plugin wrote in the socket directory: %q, %v", b, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	err = r.Wait(ctx)
	var ee *pluginrunner.ExitError
	if !errors.As(err, &ee) || ee.Result.Signal == 0 {
		t.Errorf("Wait after Kill: %v; want an *ExitError with a signal", err)
	}
	if err := r.Kill(ctx); err != nil {
		t.Errorf("a second Kill: %v", err)
	}
	if n, a, err := r.PluginToHost("unix", dir+"/plugin1"); n != "unix" || a != dir+"/plugin1" || err != nil {
		t.Errorf("PluginToHost changed the address: %s %s %v", n, a, err)
	}
}
