package sandbox_test

import (
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
)

// TestBoxTTY: several commands of one Box get terminals at once, each its
// own (the masters go to their runs, whatever order they come in), and a
// shell on one is driven as on a Run's: resize, Ctrl-C, exit code.
func TestBoxTTY(t *testing.T) {
	x := startBox(t, sandbox.Options{})
	const n = 4
	procs := make([]*sandbox.Process, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := sandbox.Command("/bin/sh", "-c", fmt.Sprintf(`echo "I am %d on $(tty)"; read line; exit %d`, i, 10+i))
			c.TTY = &sandbox.TTY{Rows: 20, Cols: 70}
			p, err := x.Exec(c)
			if err != nil {
				t.Errorf("Exec %d: %v", i, err)
				return
			}
			procs[i] = p
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ttys := map[string]bool{}
	for i, p := range procs {
		s := &termSession{t: t, m: p.Terminal()}
		m := s.expect(regexp.MustCompile(`I am (\d) on (/dev/pts/\d+)`), 20*time.Second)
		if m[1] != fmt.Sprint(i) {
			t.Errorf("the terminal of Exec %d is command %s's", i, m[1])
		}
		ttys[m[2]] = true
		s.send("\n")
		res, err := p.Wait()
		if err != nil || res.ExitCode != 10+i {
			t.Errorf("Exec %d: %v %v; want exit code %d", i, res, err, 10+i)
		}
	}
	if len(ttys) != n {
		t.Errorf("%d commands had %d terminals (%v); want one each", n, len(ttys), ttys)
	}

	// A shell on a Box's terminal: resize and Ctrl-C.
	c := sandbox.Command("/bin/sh", "-i")
	c.TTY = &sandbox.TTY{}
	p, err := x.Exec(c)
	if err != nil {
		t.Fatal(err)
	}
	s := &termSession{t: t, m: p.Terminal()}
	if err := p.Resize(33, 99); err != nil {
		t.Fatal(err)
	}
	s.send("stty size; echo S$((1+1))S\n")
	if m := s.expect(regexp.MustCompile(`(\d+) (\d+)\s+S2S`), 20*time.Second); m[1] != "33" || m[2] != "99" {
		t.Errorf("stty size after Resize(33, 99): %s %s", m[1], m[2])
	}
	s.send("sh -c 'echo Z$((1+1))Z; exec sleep 100'\n")
	s.expect(regexp.MustCompile(`Z2Z`), 20*time.Second)
	s.send("\x03")
	s.send("echo C$((1+1))C\n")
	s.expect(regexp.MustCompile(`C2C`), 20*time.Second)
	s.send("exit 7\n")
	if res, err := p.Wait(); err != nil || res.ExitCode != 7 {
		t.Errorf("shell: %v %v; want exit code 7", res, err)
	}
}
