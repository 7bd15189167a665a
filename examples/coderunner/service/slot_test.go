package service_test

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/corral-dev/corral/examples/coderunner/service"
)

// TestUnreadAnswer: with one slot, a client that sends a job with a big
// answer (12 MiB of JSON: 1 MiB of NULs on stdout and on stderr, each
// "\u0000") and never reads it does not hold the slot: the next request
// runs and is answered. The control is that the first client's job ran
// and its answer is not read.
func TestUnreadAnswer(t *testing.T) {
	ts := newServer(t, func(c *service.Config) { c.Concurrency, c.Queue = 1, 4 })
	u, _ := url.Parse(ts.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"language":"sh","source":"head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2","limits":{"output_kb":1024}}`
	fmt.Fprintf(conn, "POST /run HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body)
	// The job ran: its answer is being written, to nobody.
	waitMetric(t, ts, `coderunner_runs_total{language="sh",outcome="ok"} 1`)
	done := make(chan *answer, 1)
	go func() { done <- post(t, ts, req{Language: "sh", Source: src("echo second")}) }()
	select {
	case a := <-done:
		if a.Code != 200 || a.Run == nil || a.Run.Stdout != "second\n" {
			t.Errorf("the second request: %d %s", a.Code, a.Body)
		}
	case <-time.After(60 * time.Second):
		t.Error("the second request is not answered after 60 s: the unread answer holds the slot")
		conn.Close()
		<-done
	}
	// The control: the first answer is still unread, and bigger than
	// what the connection buffers.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n := 0
	buf := make([]byte, 1<<16)
	for {
		m, err := conn.Read(buf)
		n += m
		if err != nil || n >= 12<<20 {
			break
		}
	}
	if n < 12<<20 {
		t.Errorf("the first answer: read %d bytes, want at least 12 MiB", n)
	}
}
