package protocol

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/corral-dev/corral/isolate"
)

// fill sets every field of the struct v points to, recursively, to a
// value of its own that is not the zero value (n numbers them), so that a
// conversion that drops a field, or a field the wire lacks, shows.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(v.Index(i), n)
		}
	case reflect.String:
		v.SetString(strings.Repeat("x", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	default:
		panic("fill: no value for a " + v.Type().String())
	}
}

// filled returns a T with every field set (fill).
func filled[T any]() T {
	var v T
	n := 0
	fill(reflect.ValueOf(&v).Elem(), &n)
	return v
}

// viaWire sends w through JSON, as the socket does.
func viaWire[W any](t *testing.T, w W) W {
	t.Helper()
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var got W
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// roundTrip checks that every field of an isolate value survives the host's
// conversion, the wire and the init's conversion, and that nil and empty
// slices stay what they were.
func roundTrip[T, W any](t *testing.T, name string, toWire func([]T) []W, fromWire func([]W) []T) {
	t.Helper()
	want := filled[[]T]()
	if got := fromWire(viaWire(t, toWire(want))); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: round trip of %+v gave %+v", name, want, got)
	}
	if got := fromWire(viaWire(t, toWire(nil))); got != nil {
		t.Errorf("%s: nil came back as %#v", name, got)
	}
	if got := fromWire(viaWire(t, toWire([]T{}))); got == nil || len(got) != 0 {
		t.Errorf("%s: an empty slice came back as %#v", name, got)
	}
}

func TestConvertRoundTrip(t *testing.T) {
	roundTrip(t, "mounts", WireMounts, IsolateMounts)
	roundTrip(t, "user counts", WireUserCounts, IsolateUserCounts)
	roundTrip(t, "rlimits", WireRlimits, IsolateRlimits)
	roundTrip(t, "landlock", WireLandlock, IsolateLandlock)
	root := filled[isolate.Root]()
	if got := IsolateRoot(viaWire(t, WireRoot(root))); got != root {
		t.Errorf("root: round trip of %+v gave %+v", root, got)
	}

	// The control: fill does set every field, so a dropped one would show.
	m := filled[isolate.Mount]()
	v := reflect.ValueOf(m)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("fill left isolate.Mount.%s zero", v.Type().Field(i).Name)
		}
	}
	dropped := WireMounts([]isolate.Mount{m})
	dropped[0].NoFollow = false
	if reflect.DeepEqual(IsolateMounts(dropped), []isolate.Mount{m}) {
		t.Error("control: a mount that lost NoFollow compares equal")
	}
}

// TestConvertCgroup: the host's placement names the files that come with
// the Exec by index; the init's names the fds those files got. An index of
// one of the command's own files, or past the end, is refused.
func TestConvertCgroup(t *testing.T) {
	host := isolate.Placement{Dir: 4, Enter: []int{5, 6}, Leave: []int{7}}
	e := viaWire(t, Exec{Command: Command{Path: "x", ExtraFiles: 1}, Cgroup: WireCgroup(host)})
	files := []int{10, 11, 12, 13, 14, 15, 16, 17}
	got, err := IsolateCgroup(&e, files)
	if err != nil {
		t.Fatal(err)
	}
	if want := (isolate.Placement{Dir: 14, Enter: []int{15, 16}, Leave: []int{17}}); !reflect.DeepEqual(got, want) {
		t.Errorf("IsolateCgroup = %+v, want %+v", got, want)
	}
	none, err := IsolateCgroup(&Exec{Command: Command{Path: "x"}}, files[:3])
	if err != nil || !reflect.DeepEqual(none, isolate.Placement{}) {
		t.Errorf("no cgroup: %+v, %v; want none", none, err)
	}
	for _, bad := range []CgroupFiles{{Dir: 3}, {Enter: []int{2}}, {Leave: []int{8}}, {Dir: -1, Enter: []int{-1}}} {
		e := Exec{Command: Command{Path: "x", ExtraFiles: 1}, Cgroup: bad}
		if got, err := IsolateCgroup(&e, files); err == nil {
			t.Errorf("IsolateCgroup(%+v) = %+v; want an error", bad, got)
		}
	}
}
