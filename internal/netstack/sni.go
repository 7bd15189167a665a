package netstack

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

// maxRecord is the largest TLS plaintext record (RFC 8446, 5.1).
const maxRecord = 16384

// readHello reads the first TLS record from r if the first byte says it is
// a handshake, and returns what was read (to forward) and the ClientHello's
// server name. tls is false when the stream is not TLS; then head is the
// first byte alone.
func readHello(r io.Reader) (head []byte, name string, tls bool, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:1]); err != nil {
		return nil, "", false, err
	}
	if h[0] != 0x16 { // not a TLS handshake record
		return h[:1], "", false, nil
	}
	if _, err := io.ReadFull(r, h[1:]); err != nil {
		return nil, "", true, err
	}
	n := int(binary.BigEndian.Uint16(h[3:5]))
	if n > maxRecord+256 {
		return nil, "", true, errors.New("TLS record too long")
	}
	rec := make([]byte, 5+n)
	copy(rec, h[:])
	if _, err := io.ReadFull(r, rec[5:]); err != nil {
		return nil, "", true, err
	}
	name, err = serverName(rec[5:])
	return rec, name, true, err
}

// serverName returns the server_name of the ClientHello in msg, a
// handshake record's payload; "" when it has none.
func serverName(msg []byte) (string, error) {
	bad := errors.New("not a TLS ClientHello (or one split across records)")
	p := parser(msg)
	typ, ok := p.u8()
	if !ok || typ != 1 {
		return "", bad
	}
	body, ok := p.vec(3)
	if !ok {
		return "", bad
	}
	p = body
	if !p.skip(2+32) || !p.skipVec(1) || !p.skipVec(2) || !p.skipVec(1) {
		return "", bad
	}
	if len(p) == 0 {
		return "", nil // no extensions
	}
	exts, ok := p.vec(2)
	if !ok {
		return "", bad
	}
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		data, ok2 := exts.vec(2)
		if !ok1 || !ok2 {
			return "", bad
		}
		if typ != 0 {
			continue
		}
		list, ok := data.vec(2)
		for ok && len(list) > 0 {
			kind, ok1 := list.u8()
			host, ok2 := list.vec(2)
			if !ok1 || !ok2 {
				return "", bad
			}
			if kind == 0 {
				return strings.TrimSuffix(strings.ToLower(string(host)), "."), nil
			}
		}
		return "", bad
	}
	return "", nil
}

// parser reads big-endian fields off the front of a byte slice.
type parser []byte

func (p *parser) u8() (byte, bool) {
	if len(*p) < 1 {
		return 0, false
	}
	v := (*p)[0]
	*p = (*p)[1:]
	return v, true
}

func (p *parser) u16() (uint16, bool) {
	if len(*p) < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(*p)
	*p = (*p)[2:]
	return v, true
}

func (p *parser) skip(n int) bool {
	if len(*p) < n {
		return false
	}
	*p = (*p)[n:]
	return true
}

// vec reads a vector with an n-byte (1 to 3) length prefix.
func (p *parser) vec(n int) (parser, bool) {
	if len(*p) < n {
		return nil, false
	}
	l := 0
	for _, b := range (*p)[:n] {
		l = l<<8 | int(b)
	}
	*p = (*p)[n:]
	if len(*p) < l {
		return nil, false
	}
	v := (*p)[:l]
	*p = (*p)[l:]
	return v, true
}

func (p *parser) skipVec(n int) bool {
	_, ok := p.vec(n)
	return ok
}
