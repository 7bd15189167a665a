package protocol

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/corral-dev/corral/isolate"
)

func TestLinkRoundTrip(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:64")
	want := isolate.Link{Name: "eth0", MTU: 65520, MAC: mac,
		Addr: netip.MustParsePrefix("10.0.2.100/24"), Gateway: netip.MustParseAddr("10.0.2.2")}
	got, err := IsolateLink(viaWire(t, WireLink(want)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
}

func TestIsolateLinkErrors(t *testing.T) {
	good := Link{Name: "eth0", MTU: 1500, MAC: "02:00:00:00:00:64", Addr: "10.0.2.100/24", Gateway: "10.0.2.2"}
	if _, err := IsolateLink(&good); err != nil {
		t.Fatalf("control: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Link)
	}{
		{"Link.MAC", func(l *Link) { l.MAC = "nope" }},
		{"Link.Addr", func(l *Link) { l.Addr = "10.0.2.100" }},
		{"Link.Gateway", func(l *Link) { l.Gateway = "10.0.2" }},
	} {
		l := good
		tc.edit(&l)
		_, err := IsolateLink(&l)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v, want an error naming it", tc.field, err)
		}
	}
}
