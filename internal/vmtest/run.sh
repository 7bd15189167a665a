#!/usr/bin/env bash
# run.sh [PACKAGE...]: Corral's third test lane: the test binaries of the
# given packages (default ./sandbox ./examples/corral ./internal/adversarial
# ./sandbox/sandboxtest ./sandbox/pluginrunner ./examples/pluginhost;
# patterns like ./... work) run in a qemu VM with pure cgroup v2, each as
# root and as uid 1000 in a delegated cgroup subtree. `make test-vm` runs
# it; `make test` runs it after the host lanes. Exit status 0 only when every binary passed as both
# users.
#
# Steps:
#  1. installs what is missing (as root; otherwise prints the apt-get line):
#     qemu-system-x86, busybox-static, cpio, and gcc and libc6-dev for the
#     static cgo builds;
#  2. fetch-kernel.sh: Debian's cloud kernel, cached in $CORRAL_VM_DIR/kernel;
#  3. builds each package's test binary fully static, with cgo (libseccomp
#     will need it):
#       CGO_ENABLED=1 go test -c -tags netgo,osusergo \
#         -ldflags '-linkmode external -extldflags -static'
#     and the runas helper (./runas);
#  4. mkinitramfs.sh: busybox, the init, the binaries;
#  5. boot.sh: boots it, streams the console, prints each binary's output
#     and PASS/FAIL per binary and user, and the verdict.
#
# What the tests see in the VM (see init): CORRAL_VM=1; as uid 1000 also
# CORRAL_CGROUP_PARENT=/deleg, the delegated cgroup they may create cgroups
# under (they run in its leaf /deleg/init); as root they run in the root
# cgroup. CI and CORRAL_* (but CORRAL_VM*, CORRAL_CGROUP_PARENT,
# CORRAL_ROOTLESS, CORRAL_PKG_DIR), GOTRACEBACK and GODEBUG pass from here; with CI set,
# CORRAL_REQUIRE_SANDBOX=1 too (sandboxtest fails instead of skipping).
#
# Knobs:
#   CORRAL_VM_DIR        cache and scratch (default /var/tmp/corral-vm, or
#                        /var/tmp/corral-vm-UID when not root)
#   CORRAL_VM_LOG        console log (default $CORRAL_VM_DIR/console.log)
#   CORRAL_VM_TESTFLAGS  flags for every test binary (default
#                        "-test.count=1 -test.timeout=10m"; add -test.v or
#                        -test.run=REGEXP, no spaces inside a flag)
#   and boot.sh's: CORRAL_VM_MEM, CORRAL_VM_SMP, CORRAL_VM_TIMEOUT,
#   CORRAL_VM_ACCEL, CORRAL_VM_CMDLINE; fetch-kernel.sh's
#   CORRAL_VM_KERNEL_FLAVOUR; mkinitramfs.sh's CORRAL_VM_INITRD_GZIP.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.." # the module root
start=$(date +%s)
(($#)) || set -- ./sandbox ./examples/corral ./internal/adversarial ./sandbox/sandboxtest ./sandbox/pluginrunner ./examples/pluginhost
if [[ $(id -u) -eq 0 ]]; then
	vmdir=${CORRAL_VM_DIR:-/var/tmp/corral-vm}
else
	vmdir=${CORRAL_VM_DIR:-/var/tmp/corral-vm-$(id -u)}
fi
log=${CORRAL_VM_LOG:-$vmdir/console.log}
testflags=${CORRAL_VM_TESTFLAGS:--test.count=1 -test.timeout=10m}
die() {
	echo "vmtest: $*" >&2
	exit 1
}

# 1. Packages.
packages=(qemu-system-x86 busybox-static cpio gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		die "missing packages; install them with:
      sudo apt-get install -y --no-install-recommends ${missing[*]}"
	fi
	echo "vmtest: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ $(go env GOARCH) == amd64 ]] || die "the test VM is x86-64; GOARCH is $(go env GOARCH)"

# 2. Kernel.
mkdir -p "$vmdir"
kernel=$("$here/fetch-kernel.sh" "$vmdir/kernel")

# 3. Test binaries and runas, into the payload the init reads as /vmtest.
find "$vmdir" -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + # of killed runs
work=$(mktemp -d "$vmdir/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
payload=$work/payload
mkdir -p "$payload/tests" "$payload/pkg"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$payload/runas" ./internal/vmtest/runas
# The small init for the tests of Options.Init (CORRAL_TEST_INIT, below):
# the VM has no toolchain to build it.
CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$payload/corral-init" ./sandbox/corral-init
module=$(go list -m)
pkgs=$(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' "$@")
names=()
while read -r path dir; do
	[[ -n $path ]] || continue
	rel=${path#"$module"}
	rel=${rel#/}
	name=${rel//\//-}
	name=${name:-root}
	echo "vmtest: building $path"
	CGO_ENABLED=1 go test -c -tags netgo,osusergo -ldflags '-linkmode external -extldflags -static' \
		-o "$payload/tests/$name.test" "$path"
	if readelf -lW "$payload/tests/$name.test" | grep -q 'program interpreter'; then
		die "$path: the test binary is not static"
	fi
	mkdir "$payload/pkg/$name"
	[[ -d $dir/testdata ]] && cp -R "$dir/testdata" "$payload/pkg/$name/"
	names+=("$name.test")
done <<<"$pkgs"
((${#names[@]})) || die "no package with tests in: $*"
printf '%s\n' "${names[@]}" >"$payload/tests.list"
read -ra flags <<<"$testflags"
printf '%s\n' "${flags[@]}" >"$payload/args"
# As .ci/gotest.sh: on CI, sandboxtest fails instead of skipping.
if [[ -n ${CI:-} ]]; then
	export CORRAL_REQUIRE_SANDBOX=${CORRAL_REQUIRE_SANDBOX:-1}
fi
for v in $(compgen -e); do
	case $v in
	CORRAL_VM | CORRAL_VM_* | CORRAL_CGROUP_PARENT | CORRAL_ROOTLESS | CORRAL_PKG_DIR | CORRAL_TEST_INIT) continue ;;
	CI | CORRAL_* | GOTRACEBACK | GODEBUG) ;;
	*) continue ;;
	esac
	[[ ${!v} != *$'\n'* ]] || die "\$$v holds a newline; it cannot be passed into the VM"
	printf '%s=%s\n' "$v" "${!v}"
done >"$payload/env"
echo CORRAL_TEST_INIT=/vmtest/corral-init >>"$payload/env"
[[ -v CI ]] || echo "vmtest: note: CI is not set, so tests that cannot create sandboxes in the VM skip instead of failing"

# 4. Initramfs.
"$here/mkinitramfs.sh" "$work/initrd" "$payload" "$(dirname "$kernel")"
echo "vmtest: built ${#names[@]} test binaries and a $(du -m "$work/initrd" | cut -f1) MiB initramfs in $(($(date +%s) - start))s"

# 5. Boot and judge.
CORRAL_VM_T0=$start "$here/boot.sh" "$kernel" "$work/initrd" "$log" "${names[@]}"
