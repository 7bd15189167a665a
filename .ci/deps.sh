#!/usr/bin/env bash
# Installs (as root) or lists (as anyone else) what Corral's build, tests and
# demo need on Debian or Ubuntu, and checks that Go is new enough.
# Called by `make deps`; safe to run again: it installs only what is missing.
set -euo pipefail

# gcc, libc6-dev, libseccomp-dev, pkg-config: cgo and the seccomp filter compiler
# make: the Makefile; util-linux: setpriv (the uid-65534 test run)
# procps, iproute2: ps, ip (tests and debugging); python3: the demo's listener
# qemu-system-x86, busybox-static, cpio: the cgroup-v2 VM lane (internal/vmtest); busybox-static
# also fills the fake image of package sandbox's image tests
# bubblewrap: the anchor of the start-up benchmark (make bench)
# strace, gdb, nodejs, default-jdk-headless, git, maven, groff-base: the real programs of internal/compat
# (gcc brings AddressSanitizer's runtime, util-linux lscpu and setarch)
# chromium: the headless browser of the code runner's playground test (examples/coderunner/web)
# g++: the code runner's C++ language, which its tests and the load test's short form cover
# curl: a real client of the egress network's tests; slirp4netns, passt (pasta): the anchors
# of its benchmark (make bench-net)
packages=(gcc libc6-dev make util-linux procps iproute2 libseccomp-dev pkg-config python3
	qemu-system-x86 busybox-static cpio bubblewrap
	strace gdb nodejs default-jdk-headless git maven groff-base chromium g++
	curl slirp4netns passt)
go_min=1.26

status=0

# Go: the toolchain is not a Debian package at this version.
if ! command -v go >/dev/null 2>&1; then
	echo "deps: go not found on PATH; install Go $go_min or newer from https://go.dev/dl" >&2
	echo "      (e.g. tar -C /usr/local -xzf go1.26.*.linux-amd64.tar.gz; export PATH=\$PATH:/usr/local/go/bin)" >&2
	status=1
else
	have=$(go env GOVERSION) # go1.26.3, go1.27rc1, devel ...
	ver=${have#go}
	major=${ver%%.*}
	minor=${ver#*.}
	minor=${minor%%[!0-9]*}
	if [[ ! $major =~ ^[0-9]+$ || ! $minor =~ ^[0-9]+$ ]] ||
		((major < ${go_min%.*} || (major == ${go_min%.*} && minor < ${go_min#*.}))); then
		echo "deps: $have is too old (or not a release); Corral needs Go $go_min or newer: https://go.dev/dl" >&2
		status=1
	fi
fi

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: not a Debian/Ubuntu system (no dpkg/apt-get); install the equivalents of:" >&2
	echo "      ${packages[*]}" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	# dpkg -s also succeeds for removed-but-configured packages; check the state.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: missing packages; install them with:" >&2
		echo "      sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The egress network (sandbox.NetworkEgress) creates a TAP device inside the
# sandbox, which needs /dev/net/tun open to everyone, as the kernel's
# documentation and every distribution's udev rules have it (crw-rw-rw-); a
# machine without udev (this project's CI VM) may have it 0600.
if [[ -c /dev/net/tun ]] && [[ $(stat -c %a /dev/net/tun) != 666 ]]; then
	if [[ $(id -u) -eq 0 ]]; then
		echo "deps: /dev/net/tun is mode $(stat -c %a /dev/net/tun); making it 0666, as udev does"
		chmod 0666 /dev/net/tun
	else
		echo "deps: /dev/net/tun is mode $(stat -c %a /dev/net/tun): rootless egress networks need 0666 (sudo chmod 0666 /dev/net/tun)" >&2
	fi
fi

if ((status == 0)); then
	echo "deps: ok ($(go env GOVERSION); ${#packages[@]} packages present)"
fi
exit "$status"
