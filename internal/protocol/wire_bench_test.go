package protocol

import (
	"bytes"
	"testing"
)

func BenchmarkRecvSpec(b *testing.B) {
	m := messages()[0]
	for range 60 {
		m.Spec.Mounts = append(m.Spec.Mounts, Mount{Kind: "bind", Source: "/dev/null", Target: "/proc/kallsyms", ReadOnly: true})
	}
	m.Spec.Filter = make([]byte, 5400)
	wire := encode(b, m)
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, err := NewConn(bytes.NewBuffer(wire)).Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
