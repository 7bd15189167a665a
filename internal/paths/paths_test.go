package paths

import "testing"

func TestBeneath(t *testing.T) {
	for _, tc := range []struct {
		p, dir string
		want   bool
	}{
		{"/a", "/", true},
		{"/a/b/c", "/", true},
		{"/", "/", false},
		{"/a/b", "/a", true},
		{"/a/b/c", "/a", true},
		{"/a", "/a", false},
		{"/ab", "/a", false},
		{"/a", "/a/b", false},
		{"/b/a", "/a", false},
		{"/dev/pts", "/dev", true},
		{"/device", "/dev", false},
		{"ssl/certs", "ssl", true},
		{"sslx", "ssl", false},
	} {
		if got := Beneath(tc.p, tc.dir); got != tc.want {
			t.Errorf("Beneath(%q, %q) = %t; want %t", tc.p, tc.dir, got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	env := []string{"PATHX=no", "PATH=/a", "EMPTY=", "=odd", "PATH=/b", "NOEQUALS"}
	for _, tc := range []struct {
		key, want string
		found     bool
	}{
		{"PATH", "/b", true}, // the last one counts
		{"PATHX", "no", true},
		{"EMPTY", "", true},
		{"PAT", "", false},
		{"NOEQUALS", "", false},
		{"HOME", "", false},
	} {
		if got, found := Lookup(env, tc.key); got != tc.want || found != tc.found {
			t.Errorf("Lookup(%q) = %q, %t; want %q, %t", tc.key, got, found, tc.want, tc.found)
		}
	}
}
