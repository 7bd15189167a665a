package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// Real programs that read their configuration from the host's /etc, or
// from /usr through a symlink into it (issue 12, item 3). Each is run on
// the host first, as the control: the sandbox must print the same.

// hello is a Java program in one source file.
const hello = `public class Hello { public static void main(String[] a) { System.out.println("hello from java"); } }`

// onHost runs script with sh in a fresh directory of the host and returns
// its output; it fails the test if the host cannot run it either.
func onHost(t *testing.T, script string) string {
	t.Helper()
	c := exec.Command("sh", "-c", script)
	c.Dir = t.TempDir()
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("on the host: %v\n%s", err, out)
	}
	return string(out)
}

// inSandbox runs script with sh in /work of a default sandbox and wants
// it to succeed with the output want.
func inSandbox(t *testing.T, script, want string) {
	t.Helper()
	o := run(t, sandbox.Options{}, sandbox.Command("sh", "-c", "cd /work && "+script))
	if o.exit != 0 || o.stdout != want {
		t.Errorf("in the sandbox: exit %d, stdout %q, want %q; stderr:\n%s", o.exit, o.stdout, want, o.stderr)
	}
}

// Debian's OpenJDK reads /etc/java-17-openjdk (java.security, through
// /usr/lib/jvm/*/conf): without it the source launcher and javac fail with
// "Error loading java.security file".
func TestJavaSourceLauncher(t *testing.T) {
	testutil.RequireProgram(t, "java")
	script := "echo '" + hello + "' > Hello.java && java Hello.java"
	want := onHost(t, script)
	if want != "hello from java\n" {
		t.Fatalf("on the host: %q", want)
	}
	inSandbox(t, script, want)
}

func TestJavac(t *testing.T) {
	testutil.RequireProgram(t, "javac")
	testutil.RequireProgram(t, "java")
	script := "echo '" + hello + "' > Hello.java && javac Hello.java && java -cp . Hello"
	want := onHost(t, script)
	inSandbox(t, script, want)
}

// Shell scripts source /etc/os-release (a symlink to ../usr/lib/os-release)
// to learn the distribution.
func TestOSRelease(t *testing.T) {
	script := ". /etc/os-release && echo \"$ID $VERSION_ID\""
	want := onHost(t, script)
	if strings.TrimSpace(want) == "" {
		t.Fatalf("the host's os-release names no distribution: %q", want)
	}
	inSandbox(t, script, want)
}

// Debian's Python imports sitecustomize from /usr/lib/python3.X, a
// symlink to /etc/python3.X/sitecustomize.py.
func TestPythonSitecustomize(t *testing.T) {
	testutil.RequireProgram(t, "python3")
	script := "/usr/bin/python3 -c 'import sitecustomize; print(sitecustomize.__file__)'"
	matches, _ := filepath.Glob("/etc/python3*/sitecustomize.py")
	if len(matches) == 0 {
		t.Skip("the host's Python has no sitecustomize in /etc (Debian's has)")
	}
	inSandbox(t, script, onHost(t, script))
}

// git reads its system-wide configuration from /etc/gitconfig.
func TestGitSystemConfig(t *testing.T) {
	testutil.RequireProgram(t, "git")
	if _, err := os.Stat("/etc/gitconfig"); err != nil {
		t.Skip("the host has no /etc/gitconfig")
	}
	script := "git config --system --list"
	want := onHost(t, script)
	if want == "" {
		t.Skip("the host's /etc/gitconfig is empty")
	}
	inSandbox(t, script, want)
}

// Maven's launcher reads /usr/share/maven/bin/m2.conf, a symlink to
// /etc/maven/m2.conf.
func TestMavenVersion(t *testing.T) {
	testutil.RequireProgram(t, "mvn")
	script := "mvn -B -v 2>&1 | head -1"
	inSandbox(t, script, onHost(t, script))
}

// groff's man macros load /etc/groff/man.local (through
// /usr/share/groff/site-tmac); without it, every man page formatted warns.
func TestGroffManLocal(t *testing.T) {
	testutil.RequireProgram(t, "groff")
	script := "printf '.TH X 1\\n.SH NAME\\nx\\n' | groff -man -Tutf8 -ww 2>&1 >/dev/null | grep -c . || true"
	want := onHost(t, script)
	if want != "0\n" {
		t.Skipf("groff warns on the host too: %q", want)
	}
	inSandbox(t, script, want)
}
