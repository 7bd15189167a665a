package unpack

import (
	"archive/tar"
	"errors"
	"strings"
	"testing"
)

// applyCase applies layers bottom-up and expects the tree want, or an
// error matching err on the entry named entry. Each refusal has a control
// case next to it: the closest layer that is allowed.
type applyCase struct {
	name   string
	layers [][]ent
	opts   Options
	want   []string
	err    error
	entry  string
}

var (
	dirA   = ent{name: "a", typ: tar.TypeDir}
	fileAB = ent{name: "a/b", body: "lower"}
)

var applyCases = []applyCase{
	{name: "plain", layers: [][]ent{{
		dirA, fileAB, {name: "a/empty"}, {name: "a/s", typ: tar.TypeSymlink, link: "b"},
		{name: "x/y/z", body: "implicit parents"}, {name: "./dot/slash", body: "./ names"},
	}}, want: []string{
		"a dir 0755", "a/b file 0644 lower", "a/empty file 0644 ", "a/s link -> b",
		"x dir 0755", "x/y dir 0755", "x/y/z file 0644 implicit parents",
		"dot dir 0755", "dot/slash file 0644 ./ names",
	}},

	// Names that leave the root.
	{name: "absolute name", layers: [][]ent{{{name: "/etc/passwd", body: "root::0:0"}}},
		err: ErrUnsafe, entry: "/etc/passwd"},
	{name: "relative name (control)", layers: [][]ent{{{name: "etc/passwd", body: "root::0:0"}}},
		want: []string{"etc dir 0755", "etc/passwd file 0644 root::0:0"}},
	{name: "dot-dot out", layers: [][]ent{{{name: "../../etc/passwd", body: "x"}}},
		err: ErrUnsafe, entry: "../../etc/passwd"},
	{name: "dot-dot out through a dir", layers: [][]ent{{dirA, {name: "a/../../sibling/x", body: "x"}}},
		err: ErrUnsafe, entry: "a/../../sibling/x"},
	{name: "dot-dot inside (control)", layers: [][]ent{{dirA, {name: "a/../x", body: "x"}}},
		want: []string{"a dir 0755", "x file 0644 x"}},
	{name: "dir named dot-dot", layers: [][]ent{{{name: "..", typ: tar.TypeDir}}}, err: ErrUnsafe, entry: "../"},
	{name: "file replacing the root", layers: [][]ent{{{name: ".", typ: tar.TypeReg, body: "x"}}},
		err: ErrUnsafe, entry: "."},
	{name: "root dir entry (control)", layers: [][]ent{{{name: ".", typ: tar.TypeDir, mode: 0o755}, {name: "f"}}},
		want: []string{"f file 0644 "}},

	// Symbolic links: created as they are, never followed out.
	{name: "parent symlink out", layers: [][]ent{
		{{name: "evil", typ: tar.TypeSymlink, link: "../sibling"}},
		{{name: "evil/x", body: "planted"}},
	}, err: ErrUnsafe, entry: "evil/x"},
	{name: "parent symlink out, one layer", layers: [][]ent{{
		{name: "evil", typ: tar.TypeSymlink, link: "../sibling"}, {name: "evil/x", body: "planted"},
	}}, err: ErrUnsafe, entry: "evil/x"},
	{name: "parent symlink absolute", layers: [][]ent{{
		{name: "abs", typ: tar.TypeSymlink, link: "/"}, {name: "abs/x", body: "planted"},
	}}, err: ErrUnsafe, entry: "abs/x"},
	{name: "parent symlink inside (control)", layers: [][]ent{
		{{name: "real", typ: tar.TypeDir}, {name: "good", typ: tar.TypeSymlink, link: "real"}},
		{{name: "good/x", body: "through"}},
	}, want: []string{"real dir 0755", "good link -> real", "real/x file 0644 through"}},
	{name: "dir entry through a symlink out", layers: [][]ent{{
		{name: "evil", typ: tar.TypeSymlink, link: "../sibling"}, {name: "evil/d", typ: tar.TypeDir},
	}}, err: ErrUnsafe, entry: "evil/d/"},
	{name: "symlinks out are created as they are (control)", layers: [][]ent{{
		{name: "abs", typ: tar.TypeSymlink, link: "/etc/passwd"},
		{name: "up", typ: tar.TypeSymlink, link: "../../../../sibling/" + siblingFile},
	}}, want: []string{"abs link -> /etc/passwd", "up link -> ../../../../sibling/" + siblingFile}},
	{name: "file over a symlink out replaces the link", layers: [][]ent{
		{{name: "f", typ: tar.TypeSymlink, link: "../sibling/" + siblingFile}},
		{{name: "f", body: "replaced the link, not its target"}},
	}, want: []string{"f file 0644 replaced the link, not its target"}},
	{name: "dir over a symlink to a dir replaces the link", layers: [][]ent{
		{{name: "t", typ: tar.TypeDir}, {name: "t/keep"}, {name: "s", typ: tar.TypeSymlink, link: "t"}},
		{{name: "s", typ: tar.TypeDir}, {name: "s/new"}},
	}, want: []string{"t dir 0755", "t/keep file 0644 ", "s dir 0755", "s/new file 0644 "}},

	// Hard links.
	{name: "hard link out", layers: [][]ent{{{name: "h", typ: tar.TypeLink, link: "../sibling/" + siblingFile}}},
		err: ErrUnsafe, entry: "h"},
	{name: "hard link absolute", layers: [][]ent{{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}},
		err: ErrUnsafe, entry: "h"},
	{name: "hard link through a symlink out", layers: [][]ent{{
		{name: "evil", typ: tar.TypeSymlink, link: "../sibling"},
		{name: "h", typ: tar.TypeLink, link: "evil/" + siblingFile},
	}}, err: ErrUnsafe, entry: "h"},
	{name: "hard link to a missing file", layers: [][]ent{{{name: "h", typ: tar.TypeLink, link: "later"}, {name: "later"}}},
		err: ErrUnsafe, entry: "h"},
	{name: "hard link to a dir", layers: [][]ent{{dirA, {name: "h", typ: tar.TypeLink, link: "a"}}},
		err: ErrUnsafe, entry: "h"},
	{name: "hard link to a symlink", layers: [][]ent{{
		{name: "s", typ: tar.TypeSymlink, link: "/etc/passwd"}, {name: "h", typ: tar.TypeLink, link: "s"},
	}}, err: ErrUnsafe, entry: "h"},
	{name: "hard links inside (control)", layers: [][]ent{
		{dirA, fileAB},
		{{name: "h", typ: tar.TypeLink, link: "a/b"}, {name: "self", body: "me"}, {name: "self", typ: tar.TypeLink, link: "self"}},
	}, want: []string{"a dir 0755", "a/b file 0644 lower", "h file 0644 lower", "self file 0644 me"}},

	// What is dropped, and modes.
	{name: "devices and fifos dropped", layers: [][]ent{{
		{name: "dev/null", typ: tar.TypeChar}, {name: "sda", typ: tar.TypeBlock}, {name: "fifo", typ: tar.TypeFifo},
		{name: "regular"},
	}}, want: []string{"regular file 0644 "}},
	{name: "set-id bits dropped, sticky kept on dirs", layers: [][]ent{{
		{name: "suid", mode: 0o4755}, {name: "sgid", mode: 0o2711}, {name: "sticky-file", mode: 0o1644},
		{name: "shared", typ: tar.TypeDir, mode: 0o2775}, {name: "tmp", typ: tar.TypeDir, mode: 0o1777},
		{name: "none", mode: -1}, {name: "ro", mode: 0o444},
	}}, want: []string{
		"suid file 0755 ", "sgid file 0711 ", "sticky-file file 0644 ", "shared dir 0775", "tmp dir 0777+t",
		"none file 0 -", "ro file 0444 ",
	}},

	// Replacing.
	{name: "file replaces a dir tree", layers: [][]ent{
		{{name: "d", typ: tar.TypeDir, mode: 0o555}, {name: "d/x", typ: tar.TypeDir, mode: 0o500}, {name: "d/x/y"}},
		{{name: "d", body: "now a file"}},
	}, want: []string{"d file 0644 now a file"}},
	{name: "dir replaces a file", layers: [][]ent{
		{{name: "d", body: "a file", mode: 0o444}},
		{{name: "d", typ: tar.TypeDir, mode: 0o750}, {name: "d/f"}},
	}, want: []string{"d dir 0750", "d/f file 0644 "}},
	{name: "symlink replaces a dir tree", layers: [][]ent{
		{{name: "d", typ: tar.TypeDir}, {name: "d/f"}},
		{{name: "d", typ: tar.TypeSymlink, link: "elsewhere"}},
	}, want: []string{"d link -> elsewhere"}},
	{name: "dir over a dir keeps its content", layers: [][]ent{
		{{name: "d", typ: tar.TypeDir}, {name: "d/lower"}},
		{{name: "d", typ: tar.TypeDir, mode: 0o700}, {name: "d/upper"}},
	}, want: []string{"d dir 0700", "d/lower file 0644 ", "d/upper file 0644 "}},
	{name: "duplicates: last wins", layers: [][]ent{{
		{name: "f", body: "first"}, {name: "f", body: "second", mode: 0o600},
		{name: "d", typ: tar.TypeDir, mode: 0o555}, {name: "d/x"}, {name: "d", body: "file wins"},
		{name: "e", body: "file"}, {name: "e", typ: tar.TypeDir, mode: 0o711},
		{name: "g", typ: tar.TypeDir, mode: 0o700}, {name: "g", typ: tar.TypeDir, mode: 0o755},
	}}, want: []string{"f file 0600 second", "d file 0644 file wins", "e dir 0711", "g dir 0755"}},

	// Read-only directories are filled, and keep their modes.
	{name: "read-only dirs filled", layers: [][]ent{
		{{name: "ro", typ: tar.TypeDir, mode: 0o555}, {name: "ro/old", mode: 0o444}, {name: "ro/in", typ: tar.TypeDir, mode: 0o500}},
		{{name: "ro/new"}, {name: "ro/in/deep/f"}, {name: "ro/old", body: "replaced"}, {name: "ro2", typ: tar.TypeDir, mode: 0o555}, {name: "ro2/f"}},
	}, want: []string{
		"ro dir 0555", "ro/old file 0644 replaced", "ro/new file 0644 ", "ro/in dir 0500",
		"ro/in/deep dir 0755", "ro/in/deep/f file 0644 ", "ro2 dir 0555", "ro2/f file 0644 ",
	}},

	// Sizes.
	{name: "MaxBytes", opts: Options{MaxBytes: 10}, layers: [][]ent{{
		{name: "a", body: "12345"}, {name: "b", body: "123456"},
	}}, err: ErrTooBig, entry: "b"},
	{name: "MaxBytes exactly (control)", opts: Options{MaxBytes: 10}, layers: [][]ent{{
		{name: "a", body: "12345"}, {name: "b", body: "12345"},
	}}, want: []string{"a file 0644 12345", "b file 0644 12345"}},
	{name: "MaxBytes counts hard links", opts: Options{MaxBytes: 10}, layers: [][]ent{{
		{name: "a", body: "123456"}, {name: "h", typ: tar.TypeLink, link: "a"},
	}}, err: ErrTooBig, entry: "h"},

	// Long names and PAX.
	{name: "long names", layers: [][]ent{{
		{name: strings.Repeat("d", 200) + "/" + strings.Repeat("f", 200), body: "long", fmt: tar.FormatPAX},
		{name: strings.Repeat("g", 150), body: "gnu", fmt: tar.FormatGNU},
		{name: "l", typ: tar.TypeSymlink, link: strings.Repeat("t/", 120), fmt: tar.FormatGNU},
	}}, want: []string{
		strings.Repeat("d", 200) + " dir 0755", strings.Repeat("d", 200) + "/" + strings.Repeat("f", 200) + " file 0644 long",
		strings.Repeat("g", 150) + " file 0644 gnu", "l link -> " + strings.Repeat("t/", 120),
	}},
	{name: "PAX records", layers: [][]ent{{
		{name: "ünïcode ☃", body: "pax", pax: map[string]string{"SCHILY.xattr.user.x": "ignored", "comment": "hi"}},
	}}, want: []string{"ünïcode ☃ file 0644 pax"}},
	{name: "PAX global header skipped", layers: [][]ent{{
		{name: "global", typ: tar.TypeXGlobalHeader, pax: map[string]string{"comment": "for all"}}, {name: "f"},
	}}, want: []string{"f file 0644 "}},
}

func TestApply(t *testing.T) { runApplyCases(t, applyCases) }

func runApplyCases(t *testing.T, cases []applyCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			layers := make([][]byte, len(tc.layers))
			for i, l := range tc.layers {
				layers[i] = layerOf(t, l...)
			}
			_, err := s.apply(t, tc.opts, layers...)
			defer s.checkOutside(t)
			if tc.err == nil {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				wantTree(t, s.root, tc.want...)
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("Apply: %v, want an error matching %v", err, tc.err)
			}
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Name != tc.entry {
				t.Errorf("Apply: %v, want an *EntryError naming %q", err, tc.entry)
			}
			if !strings.Contains(err.Error(), tc.entry) {
				t.Errorf("error %q does not name the entry %q", err, tc.entry)
			}
		})
	}
}
