package egresstest

// probeScript is a python3 program that tries each of its arguments, a
// probe, and prints one line per probe: the probe, then "ok ..." or
// "fail ...". Probes (fields joined by commas):
//
//	dns,NAME             getaddrinfo (the sandbox's resolver: 10.0.2.3)
//	tcp,HOST,PORT        connect, and echo "ping" through it
//	tcp6,ADDR,PORT       connect over IPv6
//	udpdns,SERVER,NAME   a DNS query for NAME over UDP to SERVER:53, 2 s
//	tcpdns,SERVER,NAME   the same over TCP
//	via,NAME,PORT        resolve NAME with a query to 10.0.2.3 (not the
//	                     hosts file), then connect to the address and echo
const probeScript = `
import socket, struct, sys

def query(name):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)

def first_a(msg):
    ident, flags, qd, an = struct.unpack(">HHHH", msg[:8])
    rcode = flags & 15
    if rcode != 0 or an == 0:
        raise Exception("rcode %d, %d answers" % (rcode, an))
    i = 12
    while msg[i] != 0:
        i += msg[i] + 1
    i += 5
    for _ in range(an):
        if msg[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while msg[i] != 0:
                i += msg[i] + 1
            i += 1
        typ, cls, ttl, ln = struct.unpack(">HHIH", msg[i:i+10])
        i += 10
        if typ == 1 and ln == 4:
            return socket.inet_ntoa(msg[i:i+4])
        i += ln
    raise Exception("no A record")

def echo(s):
    s.sendall(b"ping")
    got = s.recv(4)
    if got != b"ping":
        raise Exception("echo: %r" % got)

def probe(p):
    f = p.split(",")
    if f[0] == "dns":
        return socket.getaddrinfo(f[1], 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    if f[0] in ("tcp", "tcp6"):
        fam = socket.AF_INET6 if f[0] == "tcp6" else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((f[1], int(f[2])))
        echo(s)
        s.close()
        return "connected"
    if f[0] == "udpdns":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(query(f[2]), (f[1], 53))
        return first_a(s.recv(4096))
    if f[0] == "tcpdns":
        s = socket.create_connection((f[1], 53), timeout=5)
        q = query(f[2])
        s.sendall(struct.pack(">H", len(q)) + q)
        n = struct.unpack(">H", s.recv(2))[0]
        return first_a(s.recv(n))
    if f[0] == "via":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(query(f[1]), ("10.0.2.3", 53))
        addr = first_a(s.recv(4096))
        c = socket.create_connection((addr, int(f[2])), timeout=5)
        echo(c)
        return "connected to " + addr
    raise Exception("unknown probe")

for p in sys.argv[1:]:
    try:
        print(p, "ok", probe(p))
    except Exception as e:
        print(p, "fail", repr(e))
    sys.stdout.flush()
`

// parallelScript connects to echo.test:7000 argv[1] times at once, each
// sending argv[2] bytes of its own and checking they come back; it
// prints "ok N" and an "err" line per failure.
const parallelScript = `
import socket, sys, threading
n, size = int(sys.argv[1]), int(sys.argv[2])
ok, errs, lock = [0], [], threading.Lock()
def one(i):
    try:
        data = bytes((i * 31 + j) % 251 for j in range(4096)) * (size // 4096)
        s = socket.create_connection(("echo.test", 7000), timeout=60)
        t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
        t.start()
        got = bytearray()
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            got += b
        t.join()
        s.close()
        if bytes(got) == data:
            with lock:
                ok[0] += 1
        else:
            errs.append("%d: %d bytes back of %d" % (i, len(got), len(data)))
    except Exception as e:
        errs.append("%d: %r" % (i, e))
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("ok", ok[0])
for e in errs:
    print("err", e)
`
