package unpack

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzApply applies layers to a root next to a sibling directory and
// checks that nothing outside the root changed, that Apply neither panics
// nor leaves the root unremovable, and that refusals come as EntryErrors.
//
// An input whose first byte is even is a program that builds layers from
// names made of troublesome parts ("..", ".wh.", symbolic links out,
// read-only modes; see fuzzLayers); an odd first byte makes the rest one
// raw tar stream. The seeds are the table tests' layers and a few
// programs.
func FuzzApply(f *testing.F) {
	for _, cases := range [][]applyCase{applyCases, whiteoutCases} {
		for _, tc := range cases {
			var raw bytes.Buffer
			for _, l := range tc.layers {
				raw.Reset()
				raw.WriteByte(1)
				raw.Write(layerOf(f, l...))
				f.Add(bytes.Clone(raw.Bytes()))
			}
		}
	}
	for _, prog := range []string{
		"\x00\x00\x50\x00\x02\x55\x01\x00\x00\x02", // dir evil, symlink out, file beneath
		"\x00\x00\x10\x01\x01\x20\x02\x07\x04\x00\x03\x05\x01",
		"\x00\x05\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
	} {
		f.Add([]byte(prog))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		var layers [][]byte
		if data[0]&1 == 1 {
			layers = [][]byte{data[1:]}
		} else {
			layers = fuzzLayers(t, data[1:])
		}
		s := newSandbox(t) // its cleanup fails the test if RemoveAll cannot empty the root
		for _, l := range layers {
			_, err := Apply(s.root, bytes.NewReader(l), Options{MaxBytes: 1 << 20})
			var ee *EntryError
			if (errors.Is(err, ErrUnsafe) || errors.Is(err, ErrTooBig)) && !errors.As(err, &ee) {
				t.Errorf("Apply: %v: a refusal that is not an *EntryError", err)
			}
			if err != nil {
				break
			}
		}
		s.checkOutside(t)
	})
}

var (
	fuzzParts   = []string{"a", "b", "..", ".", "evil", "sibling", siblingFile, ".wh.a", ".wh..wh..opq", ".wh.evil", "", ".wh.."}
	fuzzTargets = []string{"a", "../sibling", "../sibling/" + siblingFile, "/", "/etc", "a/b", "..", "evil/" + siblingFile, ".", "b/../.."}
	fuzzModes   = []int64{0o755, 0o555, 0o700, 0o4755, 0o1777, 0o444, 0o500, 0o111}
	fuzzTypes   = []byte{tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeReg, tar.TypeDir, tar.TypeFifo}
)

// fuzzLayers decodes a program into layers: each entry takes a byte for
// its type (or "start a new layer"), one for the number of parts of its
// name and whether it is absolute, one per part, and one for its mode and
// link target.
func fuzzLayers(t *testing.T, prog []byte) [][]byte {
	next := func() int {
		if len(prog) == 0 {
			return 0
		}
		b := prog[0]
		prog = prog[1:]
		return int(b)
	}
	var layers [][]byte
	var cur []ent
	for len(prog) > 0 && len(layers) < 8 {
		op := next() % (len(fuzzTypes) + 1)
		if op == len(fuzzTypes) {
			layers = append(layers, layerOf(t, cur...))
			cur = nil
			continue
		}
		n := next()
		parts := make([]string, 1+n%3)
		for i := range parts {
			parts[i] = fuzzParts[next()%len(fuzzParts)]
		}
		name := strings.Join(parts, "/")
		if n&0x80 != 0 {
			name = "/" + name
		}
		if name == "" || strings.HasSuffix(name, "/") && fuzzTypes[op] != tar.TypeDir {
			name += "x"
		}
		m := next()
		e := ent{name: name, typ: fuzzTypes[op], mode: fuzzModes[m%len(fuzzModes)], body: strings.Repeat("x", m%5)}
		if e.typ == tar.TypeSymlink || e.typ == tar.TypeLink {
			e.link = fuzzTargets[(m>>3)%len(fuzzTargets)]
		}
		cur = append(cur, e)
	}
	return append(layers, layerOf(t, cur...))
}
