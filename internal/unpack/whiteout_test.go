package unpack

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lowerD is a lower layer with a directory d holding a file, a tree and a
// read-only tree.
var lowerD = []ent{
	{name: "d", typ: tar.TypeDir}, {name: "d/x", body: "lower"}, {name: "d/y", typ: tar.TypeDir}, {name: "d/y/z"},
	{name: "d/ro", typ: tar.TypeDir, mode: 0o555}, {name: "d/ro/f", mode: 0o444}, {name: "d/ro/in", typ: tar.TypeDir, mode: 0o500},
	{name: "keep", body: "outside d"},
}

var opaque = ent{name: "d/.wh..wh..opq"}

var whiteoutCases = []applyCase{
	{name: "whiteouts remove files and trees", layers: [][]ent{lowerD, {
		{name: "d/.wh.x"}, {name: "d/.wh.y"}, {name: "d/.wh.ro"}, {name: ".wh.keep"},
	}}, want: []string{"d dir 0755"}},
	{name: "whiteouts of missing names", layers: [][]ent{lowerD, {
		{name: "d/.wh.nothing"}, {name: "nodir/.wh.x"}, {name: "keep/.wh.x"}, {name: "d/x/y/.wh.z"},
	}}, want: []string{
		"d dir 0755", "d/x file 0644 lower", "d/y dir 0755", "d/y/z file 0644 ", "d/ro dir 0555",
		"d/ro/f file 0444 ", "d/ro/in dir 0500", "keep file 0644 outside d",
	}},
	{name: "whiteout in a read-only dir", layers: [][]ent{lowerD, {{name: "d/ro/.wh.f"}, {name: "d/ro/.wh.in"}}},
		want: []string{
			"d dir 0755", "d/x file 0644 lower", "d/y dir 0755", "d/y/z file 0644 ", "d/ro dir 0555",
			"keep file 0644 outside d",
		}},
	{name: "whiteout of a symlink removes the link only", layers: [][]ent{
		{{name: "t", typ: tar.TypeDir}, {name: "t/keep"}, {name: "s", typ: tar.TypeSymlink, link: "t"}},
		{{name: ".wh.s"}},
	}, want: []string{"t dir 0755", "t/keep file 0644 "}},
	{name: "whiteout of this layer's symlink does not reach through it", layers: [][]ent{
		{{name: "t", typ: tar.TypeDir}, {name: "t/keep"}},
		{{name: "s", typ: tar.TypeSymlink, link: "t"}, {name: ".wh.s"}},
	}, want: []string{"t dir 0755", "t/keep file 0644 ", "s link -> t"}},
	{name: "other file systems' whiteouts dropped", layers: [][]ent{{{name: ".wh..wh.plnk", typ: tar.TypeDir}, {name: ".wh..wh.aufs"}}},
		want: nil},

	// This layer's names stay, whatever the order.
	{name: "whiteout after this layer's file", layers: [][]ent{lowerD, {{name: "d/x", body: "upper"}, {name: "d/.wh.x"}}},
		want: lowerDWith("d/x file 0644 upper")},
	{name: "whiteout before this layer's file", layers: [][]ent{lowerD, {{name: "d/.wh.x"}, {name: "d/x", body: "upper"}}},
		want: lowerDWith("d/x file 0644 upper")},
	{name: "whiteout of a dir after this layer's files in it", layers: [][]ent{lowerD, {{name: "d/y/new"}, {name: "d/.wh.y"}}},
		want: lowerDWith("d/y dir 0755", "d/y/new file 0644 ", "-d/y/z file 0644 ")},
	{name: "whiteout of a dir before this layer's files in it", layers: [][]ent{lowerD, {{name: "d/.wh.y"}, {name: "d/y/new"}}},
		want: lowerDWith("d/y dir 0755", "d/y/new file 0644 ", "-d/y/z file 0644 ")},

	// Opaque directories, in every order.
	{name: "opaque: dir, opaque, new", layers: [][]ent{lowerD, {{name: "d", typ: tar.TypeDir, mode: 0o750}, opaque, {name: "d/new"}}},
		want: []string{"d dir 0750", "d/new file 0644 ", "keep file 0644 outside d"}},
	{name: "opaque: new, opaque (no dir entry)", layers: [][]ent{lowerD, {{name: "d/new"}, opaque}},
		want: []string{"d dir 0755", "d/new file 0644 ", "keep file 0644 outside d"}},
	{name: "opaque: opaque, dir", layers: [][]ent{lowerD, {opaque, {name: "d", typ: tar.TypeDir, mode: 0o711}}},
		want: []string{"d dir 0711", "keep file 0644 outside d"}},
	{name: "opaque: this layer's subdir stays, lower content beneath goes", layers: [][]ent{lowerD, {
		{name: "d/y", typ: tar.TypeDir}, {name: "d/x", body: "upper"}, opaque, {name: "d/ro/g"},
	}}, want: []string{
		"d dir 0755", "d/x file 0644 upper", "d/y dir 0755", "d/ro dir 0755", "d/ro/g file 0644 ", "keep file 0644 outside d",
	}},
	{name: "opaque: of a missing dir", layers: [][]ent{{{name: "none/.wh..wh..opq"}, {name: "f"}}},
		want: []string{"f file 0644 "}},
	{name: "opaque: the root", layers: [][]ent{lowerD, {{name: ".wh..wh..opq"}, {name: "new"}}},
		want: []string{"new file 0644 "}},
	{name: "opaque: through a symlink inside", layers: [][]ent{
		append(lowerD, ent{name: "s", typ: tar.TypeSymlink, link: "d"}),
		{{name: "s/.wh..wh..opq"}},
	}, want: []string{"d dir 0755", "keep file 0644 outside d", "s link -> d"}},

	// Refusals.
	{name: "whiteout of the dir itself", layers: [][]ent{lowerD, {{name: "d/.wh.."}}}, err: ErrUnsafe, entry: "d/.wh.."},
	{name: "whiteout of the parent", layers: [][]ent{lowerD, {{name: "d/.wh..."}}}, err: ErrUnsafe, entry: "d/.wh..."},
	{name: "whiteout of nothing", layers: [][]ent{lowerD, {{name: "d/.wh."}}}, err: ErrUnsafe, entry: "d/.wh."},
	{name: "whiteout through a symlink out", layers: [][]ent{
		{{name: "evil", typ: tar.TypeSymlink, link: "../sibling"}},
		{{name: "evil/.wh." + siblingFile}},
	}, err: ErrUnsafe, entry: "evil/.wh." + siblingFile},
	{name: "opaque through a symlink out", layers: [][]ent{
		{{name: "evil", typ: tar.TypeSymlink, link: "../sibling"}},
		{{name: "evil/.wh..wh..opq"}},
	}, err: ErrUnsafe, entry: "evil/.wh..wh..opq"},
	{name: "whiteout named out", layers: [][]ent{{{name: "../sibling/.wh." + siblingFile}}},
		err: ErrUnsafe, entry: "../sibling/.wh." + siblingFile},
	{name: "whiteout through a symlink inside (control)", layers: [][]ent{
		{{name: "real", typ: tar.TypeDir}, {name: "real/f"}, {name: "good", typ: tar.TypeSymlink, link: "real"}},
		{{name: "good/.wh.f"}},
	}, want: []string{"real dir 0755", "good link -> real"}},
}

// lowerDWith is lowerD's tree with the lines add added; a line starting
// with "-" is taken out instead, and a line for a name lowerD has
// replaces it.
func lowerDWith(add ...string) []string {
	tree := map[string]string{
		"d": "dir 0755", "d/x": "file 0644 lower", "d/y": "dir 0755", "d/y/z": "file 0644 ",
		"d/ro": "dir 0555", "d/ro/f": "file 0444 ", "d/ro/in": "dir 0500", "keep": "file 0644 outside d",
	}
	for _, a := range add {
		remove := a[0] == '-'
		if remove {
			a = a[1:]
		}
		name, rest, _ := strings.Cut(a, " ")
		if remove {
			delete(tree, name)
		} else {
			tree[name] = rest
		}
	}
	var out []string
	for name, rest := range tree {
		out = append(out, name+" "+rest)
	}
	return out
}

func TestWhiteouts(t *testing.T) { runApplyCases(t, whiteoutCases) }

// aliasCases fill a read-only directory through a symbolic link to it and
// give it a mode in the same layer: the layer's mode wins, whichever name
// sorts first.
var aliasCases = []applyCase{
	{name: "link sorts before the dir", layers: [][]ent{
		{{name: "usr/lib", typ: tar.TypeDir, mode: 0o555}, {name: "lib", typ: tar.TypeSymlink, link: "usr/lib"}},
		{{name: "lib/x"}, {name: "usr/lib", typ: tar.TypeDir, mode: 0o750}},
	}, want: []string{"usr dir 0755", "usr/lib dir 0750", "usr/lib/x file 0644 ", "lib link -> usr/lib"}},
	{name: "link sorts after the dir", layers: [][]ent{
		{{name: "a/lib", typ: tar.TypeDir, mode: 0o555}, {name: "z", typ: tar.TypeSymlink, link: "a/lib"}},
		{{name: "z/x"}, {name: "a/lib", typ: tar.TypeDir, mode: 0o750}},
	}, want: []string{"a dir 0755", "a/lib dir 0750", "a/lib/x file 0644 ", "z link -> a/lib"}},
	{name: "filled through the link only: mode restored", layers: [][]ent{
		{{name: "a/lib", typ: tar.TypeDir, mode: 0o555}, {name: "z", typ: tar.TypeSymlink, link: "a/lib"}},
		{{name: "z/x"}},
	}, want: []string{"a dir 0755", "a/lib dir 0555", "a/lib/x file 0644 ", "z link -> a/lib"}},
}

func TestAliases(t *testing.T) { runApplyCases(t, aliasCases) }

// TestHardLinksClosedDirs links to a file in a directory of a lower layer
// that its owner may not read (mode 0311): it is searched and written as
// needed, and keeps its mode.
func TestHardLinksClosedDirs(t *testing.T) {
	s := newSandbox(t)
	_, err := s.apply(t, Options{},
		layerOf(t, ent{name: "closed", typ: tar.TypeDir, mode: 0o311}, ent{name: "closed/f", body: "x"},
			ent{name: "closed/none", typ: tar.TypeDir, mode: -1}),
		layerOf(t, ent{name: "h", typ: tar.TypeLink, link: "closed/f"}, ent{name: "closed/h", typ: tar.TypeLink, link: "closed/f"}))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(s.root, "closed")); err != nil || fi.Mode().Perm() != 0o311 {
		t.Errorf("closed: %v, %v; want its mode 0311 kept", fi.Mode(), err)
	}
	if err := os.Chmod(filepath.Join(s.root, "closed"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantTree(t, s.root, "closed dir 0755", "closed/f file 0644 x", "closed/h file 0644 x", "closed/none dir 0", "h file 0644 x")
}
