package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
)

// messages holds one message of every kind, with every field set.
func messages() []Message {
	return []Message{
		{Spec: &Spec{
			Version:  Version,
			Hostname: "box",
			Loopback: true,
			Root:     Root{Dir: "/srv/root", Image: true, Size: 1 << 20, ReadOnly: true, Copy: true, WorkDir: "/app"},
			Reuse:    true,
			Live:     true,
			Mounts: []Mount{
				{Kind: "bind", Source: "/usr", Target: "/usr", ReadOnly: true, Optional: true},
				{Kind: "tmpfs", Target: "/tmp", Size: 64 << 20, Mode: 0o1777},
				{Kind: "file", Target: "/etc/hostname", Mode: 0o644, Data: "box\n"},
				{Kind: "symlink", Target: "/dev/fd", Data: "/proc/self/fd"},
				{Kind: "bind", Source: "/etc/hosts", Target: "/etc/hosts", NoFollow: true},
			},
			UserCounts:       []UserCount{{Name: "max_inotify_watches", Max: 65536}},
			Rlimits:          []Rlimit{{Resource: 7, Cur: 64, Max: 64}, {Resource: 9, Cur: 1 << 30, Max: 1 << 30, AfterStart: true}},
			Filter:           []byte{0x20, 0, 0, 0, 4, 0, 0, 0},
			Capabilities:     []int{10},
			Landlock:         []LandlockRule{{Path: "/usr"}, {Path: "/tmp", Write: true, Devices: true}},
			RulesetElsewhere: true,
			Scopes:           2,
			Link:             &Link{Name: "eth0", MTU: 65520, MAC: "02:00:00:00:00:64", Addr: "10.0.2.100/24", Gateway: "10.0.2.2"},
			Notify:           true,
		}},
		{Ready: &Ready{}},
		{Started: &Started{Run: 3, Pid: 2}},
		{Failed: &Failed{Run: 3, Step: "bind", Path: "/data", Errno: 2, Message: "no such file"}},
		{Signal: &Signal{Run: 3, Signal: 15, Pid: 2}},
		{Exited: &Exited{Run: 3, ExitCode: -1, Signal: 9, UserUsec: 1234, SystemUsec: 5678, MaxRSS: 1 << 30,
			CopyOut: &Failed{Run: 3, Step: "copyout", Path: "out/x", Errno: 40, Message: "m"}}},
	}
}

// encode returns the wire form of ms, as Send writes it.
func encode(t testing.TB, ms ...Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	c := NewConn(&buf)
	for _, m := range ms {
		if err := c.Send(m); err != nil {
			t.Fatalf("Send(%+v): %v", m, err)
		}
	}
	return buf.Bytes()
}

func TestRoundTripBuffer(t *testing.T) {
	want := messages()
	var buf bytes.Buffer
	c := NewConn(&buf)
	for _, m := range want {
		if err := c.Send(m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	for i, w := range want {
		got, err := c.Recv()
		if err != nil {
			t.Fatalf("Recv #%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("Recv #%d = %s; want %s", i, encode(t, got), encode(t, w))
		}
	}
	if _, err := c.Recv(); err != io.EOF {
		t.Errorf("Recv at the end = %v; want io.EOF", err)
	}
}

func TestRoundTripPipe(t *testing.T) {
	host, child := net.Pipe()
	defer host.Close()
	hc, cc := NewConn(host), NewConn(child)
	want := messages()
	errc := make(chan error, 1)
	go func() {
		defer child.Close()
		for _, m := range want {
			if err := cc.Send(m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i, w := range want {
		got, err := hc.Recv()
		if err != nil {
			t.Fatalf("Recv #%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("Recv #%d = %s; want %s", i, encode(t, got), encode(t, w))
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := hc.Recv(); err != io.EOF {
		t.Errorf("Recv after the peer closed = %v; want io.EOF", err)
	}
}

// frame is body as one message on the wire: its length, then body.
func frame(body ...byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

func TestRecvRejects(t *testing.T) {
	started := encode(t, Message{Started: &Started{Run: 1, Pid: 2}})
	spec := encode(t, messages()[0])
	boolAt := bytes.Index(spec, []byte("box")) + 3 // Spec.Loopback, after the hostname
	badBool := bytes.Clone(spec)
	badBool[boolAt] = 2
	tests := []struct {
		name string
		in   []byte
		want string // in the error text
	}{
		{"empty message", frame(), "length 0"},
		{"unknown tag", frame(9), "unknown message tag 9"},
		{"tag 0", frame(0), "unknown message tag 0"},
		{"bytes left over", frame(append(started[1:], 0)...), "1 bytes left over"},
		{"bad bool", badBool, "bad bool"},
		{"string past the end", frame(tagFailed, 0, 0x7f, 'x'), "length past the end"},
		{"slice past the end", frame(append([]byte{tagSpec, 2, 0, 0, 0, 0, 0, 0, 0, 0x7f}, make([]byte, 20)...)...), "length past the end"},
		{"bad varint", frame(tagStarted, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "bad integer"},
		{"over the size bound", binary.AppendUvarint(nil, maxMessage+1), "length"},
		{"spec version 0", encode(t, Message{Spec: &Spec{}}), "version 0"},
		{"spec version 1", encode(t, Message{Spec: &Spec{Version: 1}}), "version 1"},
		{"spec version -1", encode(t, Message{Spec: &Spec{Version: -1, Hostname: "x"}}), "version -1"},
		{"truncated", started[:len(started)-1], "unexpected EOF"},
		{"truncated length", []byte{0x80}, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewConn(bytes.NewBuffer(tt.in)).Recv()
			if err == nil {
				t.Fatalf("Recv(%x) = %+v, nil; want an error", tt.in, m)
			}
			if err == io.EOF {
				t.Fatalf("Recv(%x) = io.EOF; want an error that is not a clean close", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Recv(%x) error %q; want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
	// The control: the messages the cases above were made from read.
	for _, in := range [][]byte{started, spec} {
		if _, err := NewConn(bytes.NewBuffer(in)).Recv(); err != nil {
			t.Errorf("Recv(%x) = %v; want the message", in, err)
		}
	}
}

// TestSendRejectsEmptyMessage: a Message with no part set is the caller's
// bug, refused rather than sent.
func TestSendRejectsEmptyMessage(t *testing.T) {
	var buf bytes.Buffer
	if err := NewConn(&buf).Send(Message{}); err == nil || buf.Len() != 0 {
		t.Errorf("Send(Message{}) = %v, wrote %d bytes; want an error and nothing written", err, buf.Len())
	}
}

// TestNilAndEmptySlicesStayApart: nil means "none" for some fields
// (Spec.Landlock), so an empty slice must arrive empty, not nil.
func TestNilAndEmptySlicesStayApart(t *testing.T) {
	for _, s := range []*Spec{
		{Version: Version},
		{Version: Version, Mounts: []Mount{}, UserCounts: []UserCount{}, Rlimits: []Rlimit{},
			Filter: []byte{}, Capabilities: []int{}, Landlock: []LandlockRule{}},
	} {
		got, err := NewConn(bytes.NewBuffer(encode(t, Message{Spec: s}))).Recv()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Spec, s) {
			t.Errorf("Recv = %#v; want %#v", got.Spec, s)
		}
	}
}

func TestRecvTruncatedIsNotEOF(t *testing.T) {
	// The host takes io.EOF to mean that the init died cleanly between
	// messages; a message cut short must be told apart from that.
	wire := encode(t, messages()[0])
	_, err := NewConn(bytes.NewBuffer(wire[:len(wire)/2])).Recv()
	if err == io.EOF || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Recv of half a message = %v; want an error wrapping io.ErrUnexpectedEOF", err)
	}
}

func TestRecvRejectedMessageKeepsStream(t *testing.T) {
	// A well-formed but invalid message is reported; the next one still reads.
	c := NewConn(bytes.NewBuffer(encode(t, Message{Spec: &Spec{Version: 1}}, Message{Started: &Started{Pid: 7}})))
	if _, err := c.Recv(); err == nil {
		t.Fatal("Recv of a version-1 spec succeeded")
	}
	m, err := c.Recv()
	if err != nil || m.Started == nil || m.Started.Pid != 7 {
		t.Errorf("Recv after a rejected message = %+v, %v; want Started{Pid: 7}", m, err)
	}
}

func FuzzRecv(f *testing.F) {
	for _, m := range messages() {
		f.Add(encode(f, m))
	}
	f.Add(encode(f, messages()...))
	for _, s := range []string{
		"", "\x00", "\x01", "\x01\x02", "\x01\x09", "\x02\x03\x00", "\x80",
		"\x05\x06\x00\x00\x00\x00", "\xff\xfe\x00garbage",
		"{\"Spec\":{}}", // what was JSON is garbage now
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewConn(bytes.NewBuffer(data))
		for range 64 {
			m, err := c.Recv()
			if err != nil {
				return
			}
			parts := 0
			for _, set := range []bool{m.Spec != nil, m.Ready != nil, m.Started != nil, m.Failed != nil, m.Signal != nil, m.Exited != nil} {
				if set {
					parts++
				}
			}
			if parts != 1 {
				t.Fatalf("Recv accepted a message with %d parts: %s", parts, encode(t, m))
			}
			if m.Spec != nil && m.Spec.Version != Version {
				t.Fatalf("Recv accepted a spec of version %d", m.Spec.Version)
			}
			// What Recv accepts, Send must write back unchanged.
			again, err := NewConn(bytes.NewBuffer(encode(t, m))).Recv()
			if err != nil || !reflect.DeepEqual(again, m) {
				t.Fatalf("re-sending %s: got %+v, %v", encode(t, m), again, err)
			}
		}
	})
}

// TestMessagesSetEveryField: the messages the round trips send set every
// field of the wire, so that none goes untested.
func TestMessagesSetEveryField(t *testing.T) {
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Field(i)
				if f.IsZero() {
					t.Errorf("no message sets %s.%s", path, v.Type().Field(i).Name)
				}
				walk(path+"."+v.Type().Field(i).Name, f)
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(path, v.Index(i))
			}
		}
	}
	// A field is set when one message or one element of a slice sets it:
	// merge them first.
	merged := reflect.New(reflect.TypeFor[Message]()).Elem()
	for _, m := range messages() {
		mergeInto(merged, reflect.ValueOf(m))
	}
	walk("Message", merged)
}

// mergeInto sets each zero field of dst to src's, recursively; slices of
// structs are merged into one element.
func mergeInto(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.New(src.Type().Elem()))
		}
		mergeInto(dst.Elem(), src.Elem())
	case reflect.Struct:
		for i := range src.NumField() {
			mergeInto(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.Type().Elem().Kind() != reflect.Struct {
			if dst.Len() == 0 {
				dst.Set(src)
			}
			return
		}
		if dst.Len() == 0 {
			dst.Set(reflect.MakeSlice(src.Type(), 1, 1))
		}
		for i := range src.Len() {
			mergeInto(dst.Index(0), src.Index(i))
		}
	default:
		if dst.IsZero() {
			dst.Set(src)
		}
	}
}
