package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// HostFile returns a host file of the caller's (mode 0600) holding
// content, opened with flag, and its name: a file to pass to a command. It
// is closed and removed when the test ends.
func HostFile(t testing.TB, content string, flag int) (*os.File, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, flag, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, name
}
