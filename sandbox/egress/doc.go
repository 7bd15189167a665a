// Package egress gives a sandbox a network that reaches only the host names
// and ports a Policy allows, and refuses everything else.
//
// A sandbox with sandbox.NetworkEgress has one interface, eth0, a TAP whose
// other end is in the host process: a user-mode TCP/IP stack (gVisor's
// netstack) that this package runs for each sandbox. Nothing the sandbox
// sends reaches the host's kernel network as a packet; the stack terminates
// TCP and the host makes its own connections for the ones the Policy
// allows. No helper binary, no privileges, no proxy variables a program can
// ignore.
//
//	p, err := egress.NewPolicy(
//		egress.Rule{Host: "pypi.org", Port: 443},
//		egress.Rule{Host: "*.pythonhosted.org", Port: 443},
//	) // err: a rule Rule.Validate refuses
//	p.Events = func(e egress.Event) { log.Printf("%+v", e) }
//	sb := sandbox.New(sandbox.Options{Network: sandbox.NetworkEgress, Egress: p})
//
// # Names, not addresses
//
// The stack answers the sandbox's DNS itself (at Link.DNS, port 53, UDP and
// TCP). For a name some rule allows, an A query gets a synthetic address:
// one per name per sandbox, from 198.18.0.0/15 (RFC 2544's benchmarking
// range, never routed on the Internet), with a 5 s TTL; the mapping lasts as
// long as the sandbox. A connection to a synthetic address maps back to
// exactly one name, so the decision and the host's dial are by name:
//
//   - no raw-IP bypass: an address the sandbox learned elsewhere is not a
//     name, and only a Prefix rule allows an address;
//   - no confusion when a CDN serves allowed and other names from one IP;
//   - the host resolves the name when it dials, with its own resolver, and
//     the default Dial (IPv4 only) checks the address it connects to, so
//     a name that resolves to the host's loopback, private, CGNAT or
//     link-local networks (DNS rebinding) is refused unless a Prefix rule
//     inside that network lists the address: a wide rule such as
//     0.0.0.0/0 does not open them, 10.0.0.0/8 or 127.0.0.1 does.
//
// A query name that is not a host name (letters, digits, '-' and '_',
// labels of 1 to 63, at most 253 in all: no NUL, space, ':', '/', non-ASCII
// ...) gets REFUSED without a look-up, and its event's Name is the name
// quoted (strconv.QuoteToASCII), never raw bytes. An unlisted name gets
// NXDOMAIN. AAAA and other types for an allowed name
// get an empty NOERROR answer (the sandbox has only IPv4). Malformed
// queries get FORMERR or no answer.
//
// # What is refused
//
// Everything not allowed: TCP to names and ports no rule lists, to raw
// addresses without a Prefix rule, and to the stack's own addresses other
// than DNS at Link.DNS:53 (the host's loopback is not reachable through the
// gateway); UDP except DNS to Link.DNS; ICMP except echo to the gateway and
// DNS addresses; IPv6 and every other protocol. A refused TCP connection
// gets a RST, and only after the host's dial failed or was refused: the
// sandbox's handshake completes only once the host's connection is made.
// Dropped packets are reported as "packet" events, at most one a second
// per protocol (with a Count). Revoke closes the live connections no rule
// allows any more.
//
// # Memory per sandbox
//
// The stack's memory per attachment is bounded: at most Policy.MaxConns
// (default 512) live TCP connections, each with a gVisor receive and a send
// buffer of at most 2 MiB (they start at 1 MiB; receive buffers are
// auto-tuned, so they grow only as a transfer needs) and two copy buffers
// (16 KiB, growing to 256 KiB while a transfer fills them): 4.5 MiB a
// connection, 2.25 GiB in the worst case that all 512
// fill every buffer, a few MiB typically. Besides: at most 16384 names in
// the DNS table (each name stored once, keyed both ways: measured 7.0 MiB
// when all are 253 bytes long, the most, and 3.3 MiB for 20-byte names, the
// two maps alone being about 3 MiB), at most 256 handshakes being dialed at once,
// one 64 KiB DNS buffer. Connections beyond the cap are refused with an
// event; lower Policy.MaxConns for a tighter bound. The kernel's buffers of
// the host's own connections are charged as any socket's.
//
// # Events
//
// Policy.Events receives an Event for every DNS query, connection attempt
// and close, and for dropped packets; Sandbox names the sandbox (its
// Link.ID). Allowed events are one each; dropped packets and refused DNS
// queries and connections are coalesced (at most one event a second per
// protocol, or per kind, name and reason, with a Count), so a sandbox
// that loops on a refused name cannot flood the log. The CLI
// (examples/corral) writes them as JSON lines.
package egress
