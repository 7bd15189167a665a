#!/usr/bin/env bash
# demo.sh: a tour of the default Corral sandbox, seen from inside, using the
# example CLI (make build). Each step shows a property and checks it; the
# script exits 1 if any does not hold, so it doubles as a smoke test.
#
#	bash examples/demo.sh [path/to/corral [path/to/registry]]      (make demo runs it)
# shellcheck disable=SC2016 # sandbox scripts are single-quoted on purpose
set -u
corral=$(realpath "${1:-bin/corral}")
if [[ ! -x $corral ]]; then echo "no corral binary: run make build" >&2; exit 2; fi

tmp=$(mktemp -d) listener='' reg='' fails=0
cleanup() {
	[[ -n $listener ]] && kill "$listener" 2>/dev/null && wait "$listener" 2>/dev/null
	[[ -n $reg ]] && kill "$reg" 2>/dev/null && wait "$reg" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
# sb [CORRAL-FLAGS...] SCRIPT: runs SCRIPT with sh in a new sandbox, shows its
# output; $out holds the output (stdout and stderr), $rc the exit status.
sb() {
	out=$("$corral" run "${@:1:$#-1}" -- sh -c "${!#}" 2>&1)
	rc=$?
	[[ -n $out ]] && sed 's/^/   | /' <<<"$out"
}
has() { grep -qE -- "$1" <<<"$out"; }
# check DESCRIPTION COMMAND...: the property holds if COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then echo "   ok: $what"; else echo "   FAIL: $what"; fails=$((fails + 1)); fi
}
# status CORRAL-ARGS...: runs corral, keeping only its exit status in $rc.
status() { "$corral" "$@" >/dev/null 2>&1; rc=$?; }

step "Who am I inside? uid 0, mapped to your own uid ($(id -u)) outside"
sb 'id; cat /proc/self/uid_map'
check "uid 0 inside" has '^uid=0\(root\)'
check "mapped to host uid $(id -u), one id only" has "^ +0 +$(id -u) +1\$"

step "Own host name (UTS namespace)"
sb 'hostname'
check "hostname is corral, not $(hostname)" has '^corral$'

step "A private root: only system dirs, the host's /etc (read-only, secrets masked), /tmp and /work"
sb 'ls -A /; for p in /home /root; do [ -e $p ] && echo "VISIBLE $p" || echo "absent $p"; done
for p in /etc/shadow /etc/gshadow /etc/os-release; do head -c1 $p >/dev/null 2>&1 && echo "READABLE $p" || echo "masked $p"; done'
check "host's /home and /root invisible" eval '! has VISIBLE'
check "/etc/shadow and /etc/gshadow unreadable" eval '! has "READABLE /etc/g?shadow"'
check "the rest of the host's /etc is there (/etc/os-release readable)" has '^READABLE /etc/os-release$'

step "Own processes (pid namespace); the sandbox's init (pid 1) is hidden"
sb 'echo "self $$"; ps -eo pid,args; echo "numeric /proc entries:" $(ls /proc | grep -cE "^[0-9]+$")'
check "the command sees itself, not pid 1" eval 'has "^ +$(sed -n "s/^self //p" <<<"$out") " && ! has "^ +1 "'
check "only a handful of processes (the host has $(find /proc -maxdepth 1 -regex '/proc/[0-9]+' | wc -l))" \
	eval '(( $(sed -n "s/^numeric .*: //p" <<<"$out") < 10 ))'

step "No network but loopback; a listener on the host's 127.0.0.1 is out of reach"
mkdir "$tmp/www"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$tmp/www" >"$tmp/http.log" 2>&1 &
listener=$!
for _ in $(seq 50); do
	port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$tmp/http.log") && [[ -n $port ]] && break
	sleep 0.1
done
echo "   (host listener: python3 http.server, pid $listener, 127.0.0.1:${port:-?})"
connect="bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port:-1}' 2>/dev/null && echo REACHED || echo 'connection refused'"
check "the listener is reachable from the host" bash -c "exec 3<>/dev/tcp/127.0.0.1/${port:-1}"
sb "cat /proc/net/dev; $connect"
check "only lo in /proc/net/dev" eval '[[ $(sed -n "s/^ *\([^ :]*\):.*/\1/p" <<<"$out") == lo ]]'
check "host listener unreachable" eval '! has REACHED'
echo "   with --net host the sandbox shares the host's network:"
sb --net host "$connect"
check "reachable with --net host" has REACHED

step "Egress by name (--allow-net): only the names you list resolve; the rest is refused, and logged (--net-log)"
sb --allow-net example.com:443 --net-log "$tmp/net.jsonl" "getent ahostsv4 example.com | head -n 1
getent hosts example.org || echo 'example.org: no such name'
curl -sS -m 5 -o /dev/null http://10.0.2.2:${port:-1}/ 2>&1 && echo REACHED || echo 'the host via 10.0.2.2: refused'"
check "an allowed name resolves (to an address of its own, 198.18.x.y)" has '^198\.1[89]\.[0-9]+\.[0-9]+ '
check "an unlisted name does not" has '^example.org: no such name$'
check "the host's listener stays out of reach" eval '! has REACHED'
check "--net-log recorded the query and the refusals" eval \
	'grep -q "\"name\":\"example.org\".*\"allowed\":false" "$tmp/net.jsonl" && grep -q "\"kind\":\"connect\".*\"allowed\":false" "$tmp/net.jsonl"'
kill "$listener" && wait "$listener" 2>/dev/null
listener=

step "System dirs and the root are read-only"
sb 'for p in /usr/x /etc/x /x; do touch $p 2>/dev/null && echo "WROTE $p" || echo "read-only: $p"; done'
check "no writes to /usr, /etc or /" eval '! has WROTE'

step "/work (the working dir) and /tmp are writable tmpfs (RAM/8 each, or a quarter of --memory)"
sb 'pwd; echo hi >/work/f && echo hi >/tmp/f && echo wrote both; df -h /work /tmp'
check "/work and /tmp writable, start in /work" eval 'has "^wrote both" && has "^/work$"'

step "No capabilities, no_new_privs set"
sb 'grep -E "^Cap|NoNewPrivs" /proc/self/status'
check "all capability sets empty" eval '[[ $(grep -cE "^Cap...:\s+0+$" <<<"$out") == 5 ]]'
check "no_new_privs" has 'NoNewPrivs:\s+1'

step "Binds: --ro refuses writes, --rw writes through to the host"
mkdir "$tmp/in" "$tmp/out" && echo "hello from the host" >"$tmp/in/hello"
sb --ro "$tmp/in:/in" --rw "$tmp/out:/out" \
	'cat /in/hello; echo x >/in/y && echo WROTE /in || echo "read-only: /in"; echo result >/out/r && echo wrote /out/r'
check "read-only bind refused the write" eval '! has WROTE && [[ ! -e $tmp/in/y ]]'
check "writable bind: host sees /out/r" grep -qx result "$tmp/out/r"

step "Exit status: the command's own, 127 not found, 126 not executable, 128+N signal, 125 setup error"
status run -- sh -c 'exit 3'; check "exit 3 -> 3" [ $rc = 3 ]
status run -- no-such-command; check "missing command -> 127" [ $rc = 127 ]
status run -- /etc/passwd; check "not executable -> 126" [ $rc = 126 ]
status run -- sh -c 'kill -TERM $$'; check "SIGTERM -> 143" [ $rc = 143 ]
status run --no-such-flag -- true; check "bad flag -> 125" [ $rc = 125 ]

step "The command gets pipes, not your files: it cannot change them (--stdio inherit passes them)"
echo "host data" >"$tmp/stdin" && chmod 600 "$tmp/stdin"
sb 'cat; stat -L -c "fd %n: %F" /proc/self/fd/0 /proc/self/fd/1; chmod 666 /proc/self/fd/0' <"$tmp/stdin"
check "stdin and stdout are pipes" eval '[[ $(grep -c ": fifo$" <<<"$out") == 2 ]] && has "^host data$"'
check "the host file's mode is still 600" [ "$(stat -c %a "$tmp/stdin")" = 600 ]

step "--json-fd 3: the result as one JSON object on fd 3, where the command cannot write"
out=$("$corral" run --json-fd 3 -- sh -c \
	'echo "{\"exit_code\":0,\"signal\":\"\"}" | tee /dev/stderr; echo forged >&3; kill -KILL $$' 3>&1 >/dev/null 2>&1)
echo "   | $out"
check "signal reported, the forged lines ignored" eval 'has "\"exit_code\":-1.*\"signal\":\"SIGKILL\"" && [[ $(wc -l <<<"$out") == 1 ]]'

step "Container images (--image): a three-layer image from a registry on loopback, unpacked rootless and cached"
registry=$(realpath "${2:-bin/registry}")
export CORRAL_IMAGES=$tmp/images # a cache of the demo's own, removed with it
"$registry" -addr 127.0.0.1:0 >"$tmp/registry.out" 2>&1 &
reg=$!
ref=
for _ in $(seq 100); do
	ref=$(sed -n 's/.* pushed \([^ ]*\) .*/\1/p' "$tmp/registry.out")
	[[ -n $ref ]] && break
	sleep 0.1
done
if [[ -z $ref ]]; then
	echo "   FAIL: the registry did not start: $(cat "$tmp/registry.out")"
	fails=$((fails + 1))
else
	echo "   \$ corral pull $ref"
	out=$("$corral" pull "$ref" 2>&1)
	rc=$?
	sed 's/^/   | /' <<<"$out"
	check "pulled" eval '[[ $rc == 0 ]] && has "sha256:[0-9a-f]{12}"'
	echo "   \$ corral run --image $ref            (the image's entrypoint and cmd)"
	out=$("$corral" run --image "$ref" 2>&1)
	rc=$?
	sed 's/^/   | /' <<<"$out"
	check "the entrypoint ran in the image's working dir, with its cmd" eval 'has "^Hello from a Corral image" && has "in /root, on corral; args: world$"'
	echo "   \$ corral run --image $ref --entrypoint sh -- -c '...'"
	out=$("$corral" run --image "$ref" --entrypoint sh -- -c 'ls /opt/old; test -e /etc/removed || echo "/etc/removed: deleted by layer 3"; echo x >/etc/new && echo "wrote /etc/new (to the overlay)"' 2>&1)
	rc=$?
	sed 's/^/   | /' <<<"$out"
	check "whiteout and opaque dir applied (only layer 3's b in /opt/old)" eval 'has "^b$" && ! has "^a$" && has "deleted by layer 3"'
	check "the root is writable, through an overlay" has '^wrote /etc/new'
	out=$("$corral" run --image "$ref" --entrypoint sh -- -c 'cat /etc/new 2>&1 || echo gone' 2>&1)
	check "writes are discarded with the sandbox" has 'gone'
	echo "   \$ corral images"
	out=$("$corral" images 2>&1)
	sed 's/^/   | /' <<<"$out"
	check "the image is listed with its size" eval 'has "demo/hello" && has "[0-9.]+ ?[kMG]i?B"'
fi
kill "$reg" 2>/dev/null && wait "$reg" 2>/dev/null
reg=

step "corral check: what this host supports"
out=$("$corral" check 2>&1)
rc=$?
sed 's/^/   | /' <<<"$out"
check "required features present" [ $rc = 0 ]

echo
if ((fails)); then
	echo "demo: $fails check(s) FAILED" >&2
	exit 1
fi
echo "demo: all checks passed"
