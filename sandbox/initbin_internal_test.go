package sandbox

import (
	"runtime/debug"
	"testing"
)

func TestSameCorral(t *testing.T) {
	dep := func(v, sum string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: "example.com/prog", Version: "(devel)"},
			Deps: []*debug.Module{{Path: modulePath, Version: v, Sum: sum}}}
	}
	main := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}}
	}
	replaced := &debug.BuildInfo{Deps: []*debug.Module{{Path: modulePath, Version: "v0.0.0",
		Replace: &debug.Module{Path: "../corral"}}}}
	for _, tc := range []struct {
		name       string
		host, init *debug.BuildInfo
		same, err  bool
	}{
		{"same release", dep("v1.2.0", "h1:a"), dep("v1.2.0", "h1:a"), true, false},
		{"other release", dep("v1.2.0", "h1:a"), dep("v1.3.0", "h1:b"), false, true},
		{"same version, other sum", dep("v1.2.0", "h1:a"), dep("v1.2.0", "h1:b"), false, true},
		{"same clean revision", main("abc", "false"), main("abc", "false"), true, false},
		{"same modified revision", main("abc", "true"), main("abc", "true"), false, false},
		{"other revision", main("abc", "false"), main("def", "false"), false, true},
		{"modified against clean", main("abc", "false"), main("abc", "true"), false, true},
		{"unstamped", main("", ""), main("abc", "false"), false, false},
		{"local replace", replaced, dep("v1.2.0", "h1:a"), false, false},
		{"no corral", &debug.BuildInfo{}, dep("v1.2.0", "h1:a"), false, false},
	} {
		same, err := sameCorral(tc.host, tc.init)
		if same != tc.same || (err != nil) != tc.err {
			t.Errorf("%s: same %v, err %v; want same %v, an error %v", tc.name, same, err, tc.same, tc.err)
		}
	}
}
