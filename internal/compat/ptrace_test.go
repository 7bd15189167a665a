package compat

// Debuggers and sanitizers: they trace the command's own processes
// (ptrace, process_vm_readv) and turn address-space randomization off
// (personality(ADDR_NO_RANDOMIZE)), which the default profile allows.
// The C programs are built on the host with gcc and bound at /w.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// leakC leaks 64 bytes when it has an argument, and frees them otherwise.
const leakC = `#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
	char *p = malloc(64);
	p[0] = 1;
	if (argc > 1)
		p = 0;
	else
		free(p);
	printf("done %d\n", argc);
	return 0;
}
`

// breakC calls target, where a debugger stops, and prints its address.
const breakC = `#include <stdio.h>
int target(int x) { return x * 2; }
int main(void) {
	printf("target=%p result=%d\n", (void *)target, target(21));
	return 0;
}
`

// buildC compiles src with gcc and flags on the host into a new directory,
// and returns the directory (to bind at /w) and the program's name.
func buildC(t *testing.T, src string, flags ...string) (dir string) {
	t.Helper()
	gcc := testutil.RequireProgram(t, "gcc")
	dir = t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(dir, "prog.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, flags...), "-g", "-o", filepath.Join(dir, "prog"), c)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, out)
	}
	return dir
}

// bindW are default options with dir bound read-only at /w.
func bindW(dir string) sandbox.Options {
	return sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(dir, "/w")}}
}

// TestASan: a program built with -fsanitize=address exits 0 in the sandbox
// when it frees what it allocates. LeakSanitizer runs at exit and needs
// ptrace (it stops the program's threads from a tracer it forks); refused,
// it reports a fatal error and the run exits 1. A real leak is still
// reported (the control: LeakSanitizer ran).
func TestASan(t *testing.T) {
	requireSandbox(t)
	dir := buildC(t, leakC, "-fsanitize=address")
	o := run(t, bindW(dir), sandbox.Command("/w/prog"))
	if o.exit != 0 || o.stdout != "done 1\n" {
		t.Errorf("clean run: exit %d, stdout %q, want 0, \"done 1\\n\"; stderr:\n%s", o.exit, o.stdout, o.stderr)
	}
	o = run(t, bindW(dir), sandbox.Command("/w/prog", "leak"))
	if o.exit == 0 || !strings.Contains(o.stderr, "ERROR: LeakSanitizer: detected memory leaks") ||
		!strings.Contains(o.stderr, "Direct leak of 64 byte(s) in 1 object(s)") {
		t.Errorf("leaking run: exit %d, want a leak of 64 bytes reported and a failure; stderr:\n%s", o.exit, o.stderr)
	}
}

// TestStrace: strace -f follows a shell and the program it starts.
func TestStrace(t *testing.T) {
	testutil.RequireProgram(t, "strace")
	o := run(t, sandbox.Options{}, sandbox.Command("strace", "-f", "-e", "trace=execve",
		"sh", "-c", "/bin/true && echo traced"))
	if o.exit != 0 || o.stdout != "traced\n" || !strings.Contains(o.stderr, `execve("/bin/true", ["/bin/true"]`) ||
		!strings.Contains(o.stderr, "+++ exited with 0 +++") {
		t.Errorf("strace -f: exit %d, stdout %q; want 0, \"traced\\n\" and the child's execve traced; stderr:\n%s", o.exit, o.stdout, o.stderr)
	}
}

// TestGDB: gdb in batch mode runs a program to a breakpoint and prints the
// backtrace, with address-space randomization off as gdb has it by
// default (disable-randomization on): a PIE then loads at 0x555555554000.
func TestGDB(t *testing.T) {
	testutil.RequireProgram(t, "gdb")
	dir := buildC(t, breakC, "-O0")
	o := run(t, bindW(dir), sandbox.Command("gdb", "-nx", "-batch", "-ex", "break target", "-ex", "run",
		"-ex", "bt", "-ex", "continue", "/w/prog"))
	if o.exit != 0 || !regexp.MustCompile(`(?m)^Breakpoint 1, target \(x=21\) at /.*prog\.c:2$`).MatchString(o.stdout) ||
		!regexp.MustCompile(`(?m)^#1 .* in main \(\) at /.*prog\.c:4$`).MatchString(o.stdout) {
		t.Fatalf("gdb: exit %d, want 0 and the program stopped in target, called from main; stdout:\n%s\nstderr:\n%s", o.exit, o.stdout, o.stderr)
	}
	if strings.Contains(o.stderr, "Error disabling address space randomization") ||
		!regexp.MustCompile(`(?m)^target=0x5555555551[0-9a-f]{2} result=42$`).MatchString(o.stdout) {
		t.Errorf("gdb did not run the program unrandomized (want target at 0x5555555551xx); stdout:\n%s\nstderr:\n%s", o.stdout, o.stderr)
	}
}

// TestSetarchNoRandomize: setarch -R runs a program with ADDR_NO_RANDOMIZE
// (personality 0x0040000), so two programs it starts get the same stack;
// without -R they do not (the control: randomization is on here).
func TestSetarchNoRandomize(t *testing.T) {
	testutil.RequireProgram(t, "setarch")
	stacks := func(o outcome) []string {
		t.Helper()
		l := strings.Split(strings.TrimSpace(o.stdout), "\n")
		if o.exit != 0 || len(l) != 3 || !strings.HasSuffix(l[1], "[stack]") || !strings.HasSuffix(l[2], "[stack]") {
			t.Fatalf("exit %d, want 0 and a personality and two [stack] lines; stdout:\n%s\nstderr:\n%s", o.exit, o.stdout, o.stderr)
		}
		return l
	}
	const script = "cat /proc/self/personality; grep -F '[stack]' /proc/self/maps; grep -F '[stack]' /proc/self/maps"
	l := stacks(run(t, sandbox.Options{}, sandbox.Command("setarch", "-R", "sh", "-c", script)))
	if l[0] != "00040000" || l[1] != l[2] {
		t.Errorf("setarch -R: personality %s, want 00040000; stacks %q and %q, want the same", l[0], l[1], l[2])
	}
	l = stacks(run(t, sandbox.Options{}, sandbox.Command("sh", "-c", script)))
	if l[0] != "00000000" || l[1] == l[2] {
		t.Errorf("control: personality %s, want 00000000; stacks %q and %q, want them to differ", l[0], l[1], l[2])
	}
}

// TestLinux32: linux32 (setarch i686), which 32-bit package builds on a
// 64-bit host run, makes uname report i686, and setarch --uname-2.6 makes
// it report a 2.6 release, as on the host. The control: the host's own
// linux32 reports i686 (a host refusing PER_LINUX32 skips).
func TestLinux32(t *testing.T) {
	testutil.RequireProgram(t, "setarch")
	if out, err := exec.Command("setarch", "i686", "uname", "-m").Output(); err != nil || string(out) != "i686\n" {
		t.Skipf("the host's setarch i686 uname -m: %q, %v", out, err)
	}
	o := run(t, sandbox.Options{}, sandbox.Command("sh", "-c", "setarch i686 uname -m && setarch i686 -R uname -m && setarch --uname-2.6 uname -r"))
	l := strings.Split(strings.TrimSpace(o.stdout), "\n")
	if o.exit != 0 || len(l) != 3 || l[0] != "i686" || l[1] != "i686" || !strings.HasPrefix(l[2], "2.6.") {
		t.Errorf("exit %d, want 0 and i686, i686, a 2.6 release; stdout:\n%s\nstderr:\n%s", o.exit, o.stdout, o.stderr)
	}
}
