package pid1

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"syscall"
	"testing"

	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
)

// TestFailure: the Failed reports keep their wire values, which the host
// turns into SetupError: an isolate.Error's step, path and errno (or its
// text, without one), "setup" for any other error, and the literal step of
// a serving-loop failure ("files", "reset") with the error's text.
func TestFailure(t *testing.T) {
	tests := []struct {
		step string
		err  error
		want protocol.Failed
	}{
		{"", &isolate.Error{Step: "bind", Path: "/data", Err: syscall.ENOENT},
			protocol.Failed{Step: "bind", Path: "/data", Errno: int(syscall.ENOENT)}},
		{"", fmt.Errorf("wrapped: %w", &isolate.Error{Step: "pivot_root", Path: "/tmp", Err: syscall.EINVAL}),
			protocol.Failed{Step: "pivot_root", Path: "/tmp", Errno: int(syscall.EINVAL)}},
		{"", &isolate.Error{Step: "exec", Path: "x", Err: errors.New("not found")},
			protocol.Failed{Step: "exec", Path: "x", Message: "not found"}},
		{"", errors.New("the mount table changed"), protocol.Failed{Step: "setup", Message: "the mount table changed"}},
		{"files", errors.New("protocol: short command message"),
			protocol.Failed{Step: "files", Message: "protocol: short command message"}},
		{"reset", &isolate.Error{Step: "unshare", Err: syscall.EPERM},
			protocol.Failed{Step: "reset", Message: (&isolate.Error{Step: "unshare", Err: syscall.EPERM}).Error()}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		s := &state{conn: protocol.NewConn(&buf)}
		if code := s.fail(tt.step, tt.err); code != 125 {
			t.Errorf("fail(%q, %v) = %d, want 125", tt.step, tt.err, code)
		}
		m, err := protocol.NewConn(&buf).Recv()
		if err != nil || m.Failed == nil {
			t.Fatalf("fail(%q, %v) sent %+v, %v; want a Failed", tt.step, tt.err, m, err)
		}
		if !reflect.DeepEqual(*m.Failed, tt.want) {
			t.Errorf("fail(%q, %v) sent %+v, want %+v", tt.step, tt.err, *m.Failed, tt.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		ex   protocol.Exited
		want int
	}{{protocol.Exited{ExitCode: 0}, 0}, {protocol.Exited{ExitCode: 3}, 3}, {protocol.Exited{ExitCode: -1, Signal: 9}, 137}} {
		if got := exitCode(&tt.ex); got != tt.want {
			t.Errorf("exitCode(%+v) = %d, want %d", tt.ex, got, tt.want)
		}
	}
}
