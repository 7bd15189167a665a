package compat

// Moving and linking files between directories of a writable mount
// (rename(2) and link(2) to another directory: Landlock's "refer" access).
// Maildir delivery, Python's compileall and pathlib tests, dpkg and
// package managers that stage files in one directory and move them into
// another rely on it; mv hides a refusal by copying instead.

import (
	"strings"
	"testing"

	"github.com/corral-dev/corral/internal/testutil"
	"github.com/corral-dev/corral/sandbox"
)

// reparentScript links and renames a file from one directory to another in
// each writable mount of the default sandbox, and, as a control, links it
// within its own directory. It prints one line per step that worked.
const reparentScript = `for d in /tmp /work /dev/shm; do
	mkdir -p $d/a $d/b && echo x > $d/a/f || exit 9
	ln $d/a/f $d/a/same && echo "$d same-dir link"
	ln $d/a/f $d/b/l && echo "$d ln"
	python3 -c 'import os, sys; os.rename(sys.argv[1] + "/a/f", sys.argv[1] + "/b/f")' $d && echo "$d rename"
done`

// TestReparent: ln and Python's os.rename move a file to another directory
// of /tmp, /work and /dev/shm, as on the host and under bubblewrap. Where
// the kernel has Landlock's signal scope (ABI 6), a layer that handles no
// filesystem right below the command's own denied every such move with
// EXDEV: Landlock denies "refer" in every layer that does not grant it.
func TestReparent(t *testing.T) {
	testutil.RequireProgram(t, "python3")
	o := run(t, sandbox.Options{}, sandbox.Command("/bin/sh", "-c", reparentScript))
	var want []string
	for _, d := range []string{"/tmp", "/work", "/dev/shm"} {
		want = append(want, d+" same-dir link", d+" ln", d+" rename")
	}
	if got := strings.Split(strings.TrimSpace(o.stdout), "\n"); o.exit != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("exit %d; stdout:\n%s\nwant:\n%s\nstderr:\n%s", o.exit, o.stdout, strings.Join(want, "\n"), o.stderr)
	}
}
