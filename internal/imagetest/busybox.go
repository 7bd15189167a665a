package imagetest

import (
	"os"
	"path"
	"testing"
)

// BusyboxApplets are the commands Busybox gives an image as symlinks.
var BusyboxApplets = []string{"sh", "ls", "cat", "echo", "id", "env", "touch", "mkdir", "rm", "pwd", "test", "true", "false", "sleep", "wc", "grep"}

// Busybox returns the entries of a layer holding the host's static
// /bin/busybox (package busybox-static) as bin/busybox, with the
// BusyboxApplets as symlinks to it: a small image that runs. Without it,
// the test is skipped, saying so (failed when $CI is set).
func Busybox(t testing.TB) []File {
	t.Helper()
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("imagetest: /bin/busybox (install busybox-static): %v", err)
		}
		t.Skipf("imagetest: no /bin/busybox (install busybox-static): %v", err)
	}
	files := []File{Dir("bin"), {Name: "bin/busybox", Body: string(b), Mode: 0o755}}
	for _, a := range BusyboxApplets {
		files = append(files, Symlink(path.Join("bin", a), "busybox"))
	}
	return files
}
