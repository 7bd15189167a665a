package protocol

// The wire form of the messages: a compact binary encoding, written and
// read by hand, field by field, in the order the types declare them.
//
// Why not JSON (what the protocol used up to version 5): the init decodes
// the spec on every cold start, before anything else, in a process that has
// just started. encoding/json took 1.8 ms there for an 18 KB spec (0.6 ms
// of it the decoding itself, the rest building its reflection caches and
// faulting in its code), a tenth of a cold run; this takes a few
// microseconds, and the init no longer primes codecs for a pooled run.
//
// Encoding: integers are varints (signed ones zigzag, as encoding/binary's
// AppendVarint), bools one byte (0 or 1), strings a uvarint length and
// their bytes, slices (byte slices too) a uvarint of 0 for nil or of their
// length plus 1, then their elements, optional structs (pointers) a
// presence byte and the struct: nil and empty stay apart, as they do for
// Go (Spec.Landlock: nil is no Landlock at all). A message is
// a uvarint length, then a tag (which field of Message is set) and that
// part. Decoding is strict: a length past the end, a bool that is not 0 or
// 1, an unknown tag or bytes left over are errors, never a panic.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Tags: which part of a Message follows.
const (
	tagSpec byte = 1 + iota
	tagReady
	tagStarted
	tagFailed
	tagSignal
	tagExited
)

// maxMessage bounds one message on the protocol socket: a spec with
// thousands of mounts stays far below it.
const maxMessage = 16 << 20

// errMalformed is what every decoding error wraps.
var errMalformed = errors.New("malformed message")

// writer appends the wire form of values to b.
type writer struct{ b []byte }

func (w *writer) uint(v uint64)  { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) int(v int64)    { w.b = binary.AppendVarint(w.b, v) }
func (w *writer) bytes(v []byte) { w.slice(v == nil, len(v)); w.b = append(w.b, v...) }
func (w *writer) str(v string)   { w.uint(uint64(len(v))); w.b = append(w.b, v...) }

// slice writes the length of a slice, nil or not.
func (w *writer) slice(isNil bool, n int) {
	if isNil {
		w.uint(0)
	} else {
		w.uint(uint64(n) + 1)
	}
}

func (w *writer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *writer) strs(v []string) {
	w.slice(v == nil, len(v))
	for _, s := range v {
		w.str(s)
	}
}

func (w *writer) ints(v []int) {
	w.slice(v == nil, len(v))
	for _, i := range v {
		w.int(int64(i))
	}
}

// reader reads values from b; the first error sticks, and every later read
// returns a zero value.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errMalformed, what)
	}
	r.b = nil
}

func (r *reader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad unsigned integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int64() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int() int {
	v := r.int64()
	if v < math.MinInt || v > math.MaxInt {
		r.fail("integer out of range")
		return 0
	}
	return int(v)
}

// uintUpTo reads an unsigned integer no larger than max (a narrower
// field's range).
func (r *reader) uintUpTo(max uint64) uint64 {
	v := r.uint()
	if v > max {
		r.fail("integer out of range")
		return 0
	}
	return v
}

func (r *reader) bool() bool {
	if len(r.b) == 0 || r.b[0] > 1 {
		r.fail("bad bool")
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

// fits checks that n elements, each at least min bytes long, fit in what
// is left.
func (r *reader) fits(n uint64, min int) bool {
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.fail("length past the end")
	}
	return r.err == nil
}

// slice reads the length of a slice whose elements take at least min
// bytes each: ok is false for a nil slice (or after an error).
func (r *reader) slice(min int) (n int, ok bool) {
	v := r.uint()
	if v == 0 || !r.fits(v-1, min) {
		return 0, false
	}
	return int(v - 1), true
}

func (r *reader) bytes() []byte {
	n, ok := r.slice(1)
	if !ok {
		return nil
	}
	v := make([]byte, n)
	copy(v, r.b)
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uint()
	if !r.fits(n, 1) {
		return ""
	}
	v := string(r.b[:n])
	r.b = r.b[n:]
	return v
}

func (r *reader) strs() []string {
	n, ok := r.slice(1)
	if !ok {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = r.str()
	}
	return v
}

func (r *reader) ints() []int {
	n, ok := r.slice(1)
	if !ok {
		return nil
	}
	v := make([]int, n)
	for i := range v {
		v[i] = r.int()
	}
	return v
}

// end checks that nothing is left over, and returns the first error.
func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail(fmt.Sprintf("%d bytes left over", len(r.b)))
	}
	return r.err
}

// appendMessage appends m's wire form, without its length, to w.
func (w *writer) message(m *Message) error {
	switch {
	case m.Spec != nil:
		w.b = append(w.b, tagSpec)
		w.spec(m.Spec)
	case m.Ready != nil:
		w.b = append(w.b, tagReady)
	case m.Started != nil:
		w.b = append(w.b, tagStarted)
		w.int(int64(m.Started.Run))
		w.int(int64(m.Started.Pid))
	case m.Failed != nil:
		w.b = append(w.b, tagFailed)
		w.failed(m.Failed)
	case m.Signal != nil:
		w.b = append(w.b, tagSignal)
		w.int(int64(m.Signal.Run))
		w.int(int64(m.Signal.Signal))
		w.int(int64(m.Signal.Pid))
	case m.Exited != nil:
		w.b = append(w.b, tagExited)
		w.exited(m.Exited)
	default:
		return errors.New("protocol: sending a message with no part set")
	}
	return nil
}

// message reads one message's tag and part; parts other than the tag's
// stay nil, so a message has exactly one.
func (r *reader) message() Message {
	var m Message
	if len(r.b) == 0 {
		r.fail("empty message")
		return m
	}
	tag := r.b[0]
	r.b = r.b[1:]
	switch tag {
	case tagSpec:
		m.Spec = r.spec()
	case tagReady:
		m.Ready = &Ready{}
	case tagStarted:
		m.Started = &Started{Run: r.int(), Pid: r.int()}
	case tagFailed:
		m.Failed = r.failed()
	case tagSignal:
		m.Signal = &Signal{Run: r.int(), Signal: r.int(), Pid: r.int()}
	case tagExited:
		m.Exited = r.exited()
	default:
		r.fail(fmt.Sprintf("unknown message tag %d", tag))
	}
	return m
}
