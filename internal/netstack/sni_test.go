package netstack

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// clientHello returns the first bytes crypto/tls sends for serverName.
func clientHello(t testing.TB, serverName string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [5]byte
	if _, err := io.ReadFull(b, hdr[:]); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
	copy(rec, hdr[:])
	if _, err := io.ReadFull(b, rec[5:]); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestReadHello(t *testing.T) {
	hello := clientHello(t, "Pypi.org")
	noSNI := clientHello(t, "")
	for _, tc := range []struct {
		name   string
		in     []byte
		tls    bool
		sni    string
		errSub string
	}{
		{"ClientHello", hello, true, "pypi.org", ""},
		{"ClientHello without SNI", noSNI, true, "", ""},
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), false, "", ""},
		{"truncated record", hello[:40], true, "", "EOF"},
		{"not a ClientHello", append([]byte{0x16, 3, 1, 0, 4}, 2, 0, 0, 0), true, "", "not a TLS ClientHello"},
		{"record too long", []byte{0x16, 3, 1, 0xff, 0xff}, true, "", "too long"},
	} {
		head, sni, isTLS, err := readHello(bytes.NewReader(tc.in))
		if tc.errSub != "" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.errSub)) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.errSub)
			}
			continue
		}
		if err != nil || isTLS != tc.tls || sni != tc.sni {
			t.Errorf("%s: sni %q tls %v err %v; want %q %v", tc.name, sni, isTLS, err, tc.sni, tc.tls)
		}
		// What was read is forwarded: it must be the stream's start.
		if !bytes.HasPrefix(tc.in, head) || len(head) == 0 {
			t.Errorf("%s: head %d bytes is not the input's start", tc.name, len(head))
		}
	}
}

func FuzzServerName(f *testing.F) {
	f.Add(clientHello(f, "pypi.org")[5:])
	f.Add(clientHello(f, "")[5:])
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		serverName(msg) // must not panic
	})
}
