package netstack

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
)

// dnsIdle is how long a DNS-over-TCP connection may wait for its next query.
const dnsIdle = 10 * time.Second

// Answer returns the response to the DNS message q, or nil when q is not
// worth one (too short for a header, or itself a response). proto is
// "udp" or "tcp", for the events.
func (s *Stack) Answer(q []byte, proto string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil || h.Response {
		return nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if h.OpCode != 0 {
		rh.RCode = dnsmessage.RCodeNotImplemented
		return build(rh, nil, nil)
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		rh.RCode = dnsmessage.RCodeFormatError
		return build(rh, nil, nil)
	}
	question := qs[0]
	raw := question.Name.String()
	ev := Event{Kind: "dns", Proto: proto, Addr: netip.AddrPortFrom(s.cfg.DNS, 53).String(),
		QType: strings.TrimPrefix(question.Type.String(), "Type")}
	var answer *netip.Addr
	ok, reason := false, "not a name"
	name, err := checkQueryName(raw)
	switch {
	case raw == "" || raw == ".":
	case err != nil:
		// Not a host name: no lookup, and the event quotes it.
		ev.Name, reason = quoteName(raw), "not a host name: "+err.Error()
		rh.RCode = dnsmessage.RCodeRefused
	case question.Class != dnsmessage.ClassINET:
		ev.Name, reason = name, "only class IN is answered"
	default:
		ev.Name = name
		ok, reason = s.cfg.Policy.AllowName(name)
	}
	switch {
	case rh.RCode != dnsmessage.RCodeSuccess:
	case !ok:
		rh.RCode = dnsmessage.RCodeNameError
	case question.Type == dnsmessage.TypeA:
		a, err := s.names.addr(name)
		if err != nil {
			rh.RCode = dnsmessage.RCodeServerFailure
			ok, reason = false, err.Error()
			break
		}
		answer = &a
	}
	rh.Authoritative = rh.RCode != dnsmessage.RCodeServerFailure
	ev.Allowed, ev.Reason = ok, reason
	s.report(ev)
	return build(rh, &question, answer)
}

// build packs a response; it cannot fail for the inputs Answer gives it
// (a parsed question, at most one A record).
func build(h dnsmessage.Header, q *dnsmessage.Question, a *netip.Addr) []byte {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	if q != nil {
		if err := b.Question(*q); err != nil {
			return nil
		}
	}
	if a != nil {
		if err := b.StartAnswers(); err != nil {
			return nil
		}
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: NameTTL}
		if err := b.AResource(rh, dnsmessage.AResource{A: a.As4()}); err != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// startDNS serves DNS over UDP at DNS:53 (DNS over TCP comes through the
// forwarder).
func (s *Stack) startDNS() error {
	laddr := &tcpip.FullAddress{NIC: nicID, Addr: tcpAddr(s.cfg.DNS), Port: 53}
	c, err := gonet.DialUDP(s.st, laddr, nil, ipv4ProtocolNumber)
	if err != nil {
		return err
	}
	s.dnsUDP = c
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := s.Answer(buf[:n], "udp"); r != nil {
				c.WriteTo(r, from)
			}
		}
	}()
	return nil
}

// serveDNSTCP answers the length-prefixed queries on c until it ends or
// idles.
func (s *Stack) serveDNSTCP(c net.Conn) {
	var lb [2]byte
	buf := make([]byte, 65535)
	for {
		c.SetReadDeadline(time.Now().Add(dnsIdle))
		if _, err := io.ReadFull(c, lb[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		r := s.Answer(buf[:n], "tcp")
		if r == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(r)), uint16(len(r)))
		c.SetWriteDeadline(time.Now().Add(dnsIdle))
		if _, err := c.Write(append(out, r...)); err != nil {
			return
		}
	}
}
