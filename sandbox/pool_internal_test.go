package sandbox

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestFillBackoff: the pool filler's pauses: 10 ms doubling to 1 s after
// any failure, 1 s doubling to 1 min after the image failed to open (a
// SetupError with Step "image", wrapped or not), each kind on its own
// count; the zero value (a success resets to it) starts again.
func TestFillBackoff(t *testing.T) {
	general := errors.New("cgroup: no space")
	image := &SetupError{Step: "image", Path: "r/i:t", Message: "no such image"}
	init := &SetupError{Step: "mount", Path: "/x"}
	ms, s := time.Millisecond, time.Second
	for _, tc := range []struct {
		name string
		errs []error
		want []time.Duration
	}{
		{"general", []error{general, general, general, general, general, general, general, general, general},
			[]time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, s, s}},
		{"a set-up error but the image's", []error{init, init}, []time.Duration{10 * ms, 20 * ms}},
		{"image", []error{image, image, image, image, image, image, image, image, image},
			[]time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, time.Minute, time.Minute, time.Minute}},
		{"image, wrapped", []error{fmt.Errorf("boot: %w", image), image}, []time.Duration{s, 2 * s}},
		{"each kind its own", []error{image, general, image, general}, []time.Duration{s, 10 * ms, 2 * s, 20 * ms}},
	} {
		var b fillBackoff
		for i, err := range tc.errs {
			if got := b.next(err); got != tc.want[i] {
				t.Errorf("%s: pause %d after %v: %v, want %v", tc.name, i, err, got, tc.want[i])
			}
		}
	}
}
