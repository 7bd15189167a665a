package sandbox

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/protocol"
)

// TestRoute: the init's messages reach whom they concern, in the orders
// the protocol allows: the answers to the spec and to a reset reach the
// booted sandbox (answers), a command's reach the run attached, and when the
// init closes its socket the run and the booted sandbox both learn it.
func TestRoute(t *testing.T) {
	ready := protocol.Message{Ready: &protocol.Ready{}}
	failed := protocol.Message{Failed: &protocol.Failed{Step: "mount"}} // the set-up's or a reset's: no run
	cmdFailed := protocol.Message{Failed: &protocol.Failed{Run: 1, Step: "exec"}}
	started := protocol.Message{Started: &protocol.Started{Run: 1, Pid: 2}} // the first run attached is run 1
	exited := protocol.Message{Exited: &protocol.Exited{Run: 1, ExitCode: 3}}
	type want struct {
		answers []protocol.Message // what answers holds, then closed or not
		run     []protocol.Message // what the run's msgs holds
		runOver bool               // the run was detached
	}
	for _, tc := range []struct {
		name string
		msgs []protocol.Message // from the init, then EOF if eof
		eof  bool
		late bool // the host takes the answers only after the last message
		want want
	}{
		// A cold run sends its command before the init is ready.
		{"cold", []protocol.Message{ready, started, exited}, true, false, want{[]protocol.Message{ready}, []protocol.Message{started, exited}, true}},
		{"set-up failed", []protocol.Message{failed}, true, false, want{[]protocol.Message{failed}, nil, true}},
		{"command failed", []protocol.Message{ready, cmdFailed}, true, false, want{[]protocol.Message{ready}, []protocol.Message{cmdFailed}, true}},
		// An Exec that did not arrive whole: a Failed with no run, after Ready.
		{"files failed", []protocol.Message{ready, failed}, true, false, want{[]protocol.Message{ready}, []protocol.Message{failed}, true}},
		// A message for another run reaches no run.
		{"other run", []protocol.Message{ready, {Started: &protocol.Started{Run: 2, Pid: 3}}}, false, false, want{[]protocol.Message{ready}, nil, false}},
		{"died running", []protocol.Message{ready, started}, true, false, want{[]protocol.Message{ready}, []protocol.Message{started}, true}},
		{"running", []protocol.Message{ready, started}, false, false, want{[]protocol.Message{ready}, []protocol.Message{started}, false}},
		// A reusable init resets after Exited and answers again: that
		// answer is the booted sandbox's, not the ended run's.
		{"reset", []protocol.Message{ready, started, exited, failed}, false, false, want{[]protocol.Message{ready, failed}, []protocol.Message{started, exited}, true}},
		// A cold run of a reusable sandbox takes the set-up's answer only
		// after it sent its command: by then the init may have run it,
		// reset, and answered again.
		{"cold reuse, host late", []protocol.Message{ready, started, exited, ready}, false, true, want{[]protocol.Message{ready, ready}, []protocol.Message{started, exited}, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The init closes its socket right away: read sees EOF.
			eof := struct {
				io.Reader
				io.Writer
			}{strings.NewReader(""), io.Discard}
			b := &booted{conn: protocol.NewConn(eof), answers: make(chan protocol.Message, answersMax)}
			p := newProcess(b, time.Now())
			b.attach(p)
			// The host takes each answer as it comes, before the next.
			var answers []protocol.Message
			take := func() {
				for {
					select {
					case m, ok := <-b.answers:
						if !ok {
							return
						}
						answers = append(answers, m)
					default:
						return
					}
				}
			}
			for _, m := range tc.msgs {
				b.route(m)
				if !tc.late {
					take()
				}
			}
			take()
			if tc.eof {
				b.read()
				take()
				if _, ok := <-b.answers; ok {
					t.Errorf("answers open after read ended")
				}
				if err := b.readError(); err != io.EOF {
					t.Errorf("read ended with %v, want EOF", err)
				}
			}
			if !equalMsgs(answers, tc.want.answers) {
				t.Errorf("answers %v, want %v", kinds(answers), kinds(tc.want.answers))
			}
			var run []protocol.Message
			over := false
		drain:
			for {
				select {
				case m, ok := <-p.msgs:
					if !ok {
						over = true
						break drain
					}
					run = append(run, m)
				default:
					break drain
				}
			}
			if !equalMsgs(run, tc.want.run) || over != tc.want.runOver {
				t.Errorf("the run got %v (detached %v), want %v (detached %v)", kinds(run), over, kinds(tc.want.run), tc.want.runOver)
			}
			select {
			case <-p.gone:
				if !over {
					t.Error("the run's gone is closed, its msgs open")
				}
			default:
				if over {
					t.Error("the run's gone is open after it was detached")
				}
			}
		})
	}
	// A run attached once the init is gone ends at once.
	b := &booted{conn: protocol.NewConn(struct {
		io.Reader
		io.Writer
	}{strings.NewReader(""), io.Discard}), answers: make(chan protocol.Message, answersMax)}
	b.read()
	p := newProcess(b, time.Now())
	b.attach(p)
	if _, ok := <-p.msgs; ok {
		t.Error("a run attached after the init's EOF got a message")
	}
}

func kinds(ms []protocol.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, kind(m))
	}
	return out
}

func equalMsgs(a, b []protocol.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if kind(a[i]) != kind(b[i]) {
			return false
		}
	}
	return true
}

func kind(m protocol.Message) string {
	switch {
	case m.Ready != nil:
		return "Ready"
	case m.Failed != nil:
		return "Failed"
	case m.Started != nil:
		return "Started"
	case m.Exited != nil:
		return "Exited"
	}
	return "?"
}

// TestRouteLive: a live booted sandbox (a Box's) routes each command's
// messages by run id to runs attached at once; one run's Exited detaches
// only that run, and a Failed without a run (an Exec that did not arrive
// whole) reaches every run attached.
func TestRouteLive(t *testing.T) {
	b := &booted{live: true, answers: make(chan protocol.Message, answersMax)}
	b.route(protocol.Message{Ready: &protocol.Ready{}})
	p1, p2, p3 := newProcess(b, time.Now()), newProcess(b, time.Now()), newProcess(b, time.Now())
	for _, p := range []*Process{p1, p2, p3} {
		b.attach(p)
	}
	if p1.run == p2.run || p2.run == p3.run || p1.run == 0 {
		t.Fatalf("run ids %d %d %d; want distinct and non-zero", p1.run, p2.run, p3.run)
	}
	b.route(protocol.Message{Started: &protocol.Started{Run: p2.run, Pid: 20}})
	b.route(protocol.Message{Started: &protocol.Started{Run: p1.run, Pid: 10}})
	b.route(protocol.Message{Exited: &protocol.Exited{Run: p2.run, ExitCode: 2}})
	b.route(protocol.Message{Failed: &protocol.Failed{Run: p3.run, Step: "exec"}})
	if m := <-p1.msgs; m.Started == nil || m.Started.Pid != 10 {
		t.Errorf("run 1 got %v first", kind(m))
	}
	if m := <-p2.msgs; m.Started == nil || m.Started.Pid != 20 {
		t.Errorf("run 2 got %v first", kind(m))
	}
	if m := <-p2.msgs; m.Exited == nil || m.Exited.ExitCode != 2 {
		t.Errorf("run 2 got %v second", kind(m))
	}
	if _, ok := <-p2.msgs; ok {
		t.Error("run 2 still attached after its Exited")
	}
	if m := <-p3.msgs; m.Failed == nil || m.Failed.Step != "exec" {
		t.Errorf("run 3 got %v", kind(m))
	}
	select {
	case <-p1.gone:
		t.Error("run 1 detached by run 2's Exited")
	default:
	}
	if len(b.answers) != 1 {
		t.Errorf("answers hold %d messages; want the Ready alone (a live init's Exited is no reset)", len(b.answers))
	}
	b.route(protocol.Message{Failed: &protocol.Failed{Step: "files"}})
	if m := <-p1.msgs; m.Failed == nil || m.Failed.Step != "files" {
		t.Errorf("run 1 got %v for a Failed without a run", kind(m))
	}
}
