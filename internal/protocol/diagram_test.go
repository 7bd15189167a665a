package protocol

import (
	"go/parser"
	"go/token"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// wireTypes adds t and every struct type of this package reachable from
// it, through fields, pointers and slices, to types, by name.
func wireTypes(t reflect.Type, types map[string]reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeFor[Message]().PkgPath() || types[t.Name()] != nil {
		return
	}
	types[t.Name()] = t
	for i := range t.NumField() {
		wireTypes(t.Field(i).Type, types)
	}
}

// shown is what a package doc shows of types written as Name{A, B, ...}:
// the fields named for each type name ("..." names none).
func shown(doc string) map[string][]string {
	out := map[string][]string{}
	for _, m := range regexp.MustCompile(`\b([A-Z][A-Za-z0-9]*)\{([^{}]*)\}`).FindAllStringSubmatch(doc, -1) {
		fields := strings.FieldsFunc(m[2], func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
		out[m[1]] = append(out[m[1]], fields...)
	}
	return out
}

// packageDoc is protocol.go's package doc, the diagram with it.
func packageDoc(t *testing.T) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "protocol.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("protocol.go has no package doc")
	}
	return f.Doc.Text()
}

// diagramErrors lists what doc gets wrong about the wire types: a type or
// a field it never names, or one it names that does not exist.
func diagramErrors(doc string, types map[string]reflect.Type) []string {
	var errs []string
	named := shown(doc)
	for name, fields := range named {
		typ, ok := types[name]
		if !ok {
			errs = append(errs, "the doc shows "+name+"{...}, which is no type of the wire")
			continue
		}
		for _, f := range fields {
			if _, ok := typ.FieldByName(f); !ok && f != "..." {
				errs = append(errs, "the doc names "+name+"."+f+", which does not exist")
			}
		}
	}
	for name, typ := range types {
		fields, ok := named[name]
		if !ok {
			errs = append(errs, "the doc never shows "+name+"{...}")
			continue
		}
		for i := range typ.NumField() {
			if f := typ.Field(i).Name; !strings.Contains(" "+strings.Join(fields, " ")+" ", " "+f+" ") {
				errs = append(errs, "the doc does not name "+name+"."+f)
			}
		}
	}
	sort.Strings(errs)
	return errs
}

// TestDiagramNamesEveryField: the package doc (its diagram and the list
// under it) names every field of every message, and of every value in
// them, recursively from Message and Exec, and no field that does not
// exist: a field added to the wire, or renamed, fails here until the doc
// says so.
func TestDiagramNamesEveryField(t *testing.T) {
	types := map[string]reflect.Type{}
	wireTypes(reflect.TypeFor[Message](), types)
	wireTypes(reflect.TypeFor[Exec](), types)
	for _, want := range []string{"Message", "Spec", "Mount", "Exited", "Exec", "Command", "CgroupFiles"} {
		if types[want] == nil {
			t.Fatalf("the walk from Message and Exec missed %s (found %d types)", want, len(types))
		}
	}
	doc := packageDoc(t)
	for _, e := range diagramErrors(doc, types) {
		t.Error(e)
	}

	// The control: a doc that lacks a field, or names a field or a type
	// that does not exist, is caught.
	for _, bad := range []struct{ from, to string }{
		{"MaxRSS}", "}"},
		{"Started{Run, Pid}", "Started{Run, Pid, Tid}"},
		{"Root{Dir, Image, Size, ReadOnly, Copy, WorkDir}", "Root{Dir, Image, Size, ReadOnly, Copy, WorkDir} Roots{Dir}"},
	} {
		if !strings.Contains(doc, bad.from) {
			t.Fatalf("control: the doc lacks %q", bad.from)
		}
		if errs := diagramErrors(strings.Replace(doc, bad.from, bad.to, 1), types); len(errs) == 0 {
			t.Errorf("control: a doc with %q for %q passes", bad.to, bad.from)
		}
	}
}
