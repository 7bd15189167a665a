package protocol

import (
	"bytes"
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
			Root:     Root{Dir: "/srv/root"},
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

func TestRecvRejects(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // in the error text
	}{
		{"zero parts", `{}`, "0 parts"},
		{"null", `null`, "0 parts"},
		{"only null parts", `{"Spec":null,"Exited":null}`, "0 parts"},
		{"two parts", `{"Started":{"Pid":1},"Signal":{"Signal":15}}`, "2 parts"},
		{"all parts", string(bytes.ReplaceAll(encode(t, messages()...), []byte("}\n{"), []byte(","))), "6 parts"},
		{"spec version 0", `{"Spec":{}}`, "version 0"},
		{"spec version 1", `{"Spec":{"Version":1}}`, "version 1"},
		{"spec version -1", `{"Spec":{"Version":-1,"Hostname":"x"}}`, "version -1"},
		{"not an object", `[1,2]`, "protocol:"},
		{"wrong type", `{"Started":{"Pid":"one"}}`, "protocol:"},
		{"syntax", `{"Started":}`, "protocol:"},
		{"truncated", `{"Started":{"Pid":1}`, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewConn(bytes.NewBufferString(tt.in)).Recv()
			if err == nil {
				t.Fatalf("Recv(%s) = %+v, nil; want an error", tt.in, m)
			}
			if err == io.EOF {
				t.Fatalf("Recv(%s) = io.EOF; want an error that is not a clean close", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Recv(%s) error %q; want it to contain %q", tt.in, err, tt.want)
			}
		})
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
	c := NewConn(bytes.NewBufferString(`{"Spec":{"Version":1}}` + "\n" + `{"Started":{"Pid":7}}` + "\n"))
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
		"", " ", "\n\n", "{}", "null", "[]", `"x"`, "1e999", "{", "}", `{"Spec":{}}`,
		`{"Spec":{"Version":1,"Mounts":[{"Kind":"bind","Size":-1}]}}`,
		`{"spec":{"version":1},"started":null}`,
		`{"Started":{"Pid":1},"Signal":{"Signal":15}}`,
		`{"Exited":{"ExitCode":1e20}}`, `{"Signal":{"Signal":-9}}`,
		"\xff\xfe\x00garbage", `{"Failed":{"Message":"\ud800"}}`,
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
