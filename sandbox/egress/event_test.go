package egress

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/corral-dev/corral/internal/netstack"
)

func TestEventJSON(t *testing.T) {
	at := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   netstack.Event
		want string
	}{
		{netstack.Event{Time: at, Kind: "dns", Proto: "udp", Name: "pypi.org", Addr: "10.0.2.3:53", Allowed: true, Reason: "rule pypi.org:443", QType: "A"},
			`{"time":"2026-12-04T18:00:00Z","sandbox":"sb-1","kind":"dns","proto":"udp","name":"pypi.org","addr":"10.0.2.3:53","allowed":true,"reason":"rule pypi.org:443","qtype":"A"}`},
		{netstack.Event{Time: at, Kind: "packet", Proto: "ipv6", Reason: "IPv6 is not served", Count: 3},
			`{"time":"2026-12-04T18:00:00Z","sandbox":"sb-1","kind":"packet","proto":"ipv6","allowed":false,"reason":"IPv6 is not served","count":3}`},
		{netstack.Event{Time: at, Kind: "close", Proto: "tcp", Name: "pypi.org", Addr: "198.18.0.1:443", Allowed: true, Out: 10, In: 20, Elapsed: time.Second},
			`{"time":"2026-12-04T18:00:00Z","sandbox":"sb-1","kind":"close","proto":"tcp","name":"pypi.org","addr":"198.18.0.1:443","allowed":true,"bytes_out":10,"bytes_in":20,"duration":1000000000}`},
	} {
		b, err := json.Marshal(eventFrom("sb-1", tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("JSON:\n got %s\nwant %s", b, tc.want)
		}
	}
}
