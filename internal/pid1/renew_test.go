package pid1

import "testing"

// TestOwnCounts: the namespace is judged by its own socket counts only;
// the host-wide figures on the same lines (orphan, alloc, mem) change with
// any socket anywhere and must not make every run renew it.
func TestOwnCounts(t *testing.T) {
	a := ownCounts([]byte("sockets: used 8\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 125\nFRAG: inuse 0 memory 0\n"))
	hostBusy := ownCounts([]byte("sockets: used 8\nTCP: inuse 1 orphan 3 tw 0 alloc 90 mem 4000\nFRAG: inuse 0 memory 512\n"))
	if string(a) != string(hostBusy) {
		t.Errorf("host-wide figures count: %q != %q", a, hostBusy)
	}
	if want := "sockets: used 8\nTCP: inuse 1 tw 0\nFRAG: inuse 0\n"; string(a) != want {
		t.Errorf("ownCounts = %q, want %q", a, want)
	}
	// The control: a TIME_WAIT entry of the namespace's own does count.
	if tw := ownCounts([]byte("sockets: used 8\nTCP: inuse 1 orphan 0 tw 1 alloc 1 mem 125\nFRAG: inuse 0 memory 0\n")); string(tw) == string(a) {
		t.Errorf("a TIME_WAIT entry does not count")
	}
}
