#!/usr/bin/env bash
# fetch-kernel.sh CACHE_DIR: puts Debian's cloud kernel for the test VM in
# CACHE_DIR without installing it, and prints the path of its vmlinuz.
#
# The metapackage linux-image-cloud-amd64 is resolved to the versioned
# package it depends on (linux-image-6.1.0-NN-cloud-amd64 on Debian 12),
# which is fetched with `apt-get download` and unpacked with `dpkg -x` into
# CACHE_DIR/PACKAGE_VERSION/ (vmlinuz, config, and lib/modules/ with the few
# modules a Debian system would load on demand that the VM wants: overlay,
# and tun for the egress network's TAP).
# Nothing goes to /boot and no package is installed. A kernel already in the cache is reused; older ones
# are removed once a newer one is in. The apt lists are refreshed (as root)
# when they do not know the package or name a file the mirror no longer has.
# Without apt at all (offline, lists gone), the newest cached kernel is used.
#
# Knob: CORRAL_VM_KERNEL_FLAVOUR (default cloud-amd64; amd64 works too, but
# its package is about 3 times bigger).
set -euo pipefail

if (($# != 1)); then
	echo "usage: fetch-kernel.sh CACHE_DIR" >&2
	exit 2
fi
cache=$1
meta=linux-image-${CORRAL_VM_KERNEL_FLAVOUR:-cloud-amd64}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

log() { echo "fetch-kernel: $*" >&2; }

# resolve prints "PACKAGE VERSION" of the kernel the metapackage depends on.
resolve() {
	local pkg ver
	pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[[ -n $pkg ]] || return 1
	ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')
	[[ -n $ver ]] || return 1
	echo "$pkg $ver"
}

newest_cached() {
	local k
	k=$(find "$cache" -mindepth 2 -maxdepth 2 -name vmlinuz -path "$cache/linux-image-*" 2>/dev/null | sort -V | tail -n 1)
	[[ -n $k ]] && echo "$k"
}

apt_update() {
	if [[ $(id -u) -ne 0 ]]; then
		return 1
	fi
	log "refreshing the apt lists"
	apt-get update -qq >&2
}

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
	k=$(newest_cached) || { log "no apt-get/dpkg here, and no kernel cached in $cache"; exit 1; }
	log "no apt-get/dpkg; using the cached $k"
	echo "$k"
	exit 0
fi

if ! found=$(resolve) && ! { apt_update && found=$(resolve); }; then
	if k=$(newest_cached); then
		log "cannot resolve $meta with apt; using the cached $k"
		echo "$k"
		exit 0
	fi
	log "cannot resolve $meta to a kernel package (run apt-get update as root first)"
	exit 1
fi
read -r pkg ver <<<"$found"
dir=$cache/${pkg}_$ver
# A cached kernel from before tun.ko was wanted is fetched again.
if [[ -s $dir/vmlinuz ]] && compgen -G "$dir/lib/modules/*/kernel/drivers/net/tun.ko" >/dev/null; then
	echo "$dir/vmlinuz"
	exit 0
fi

tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# apt-get download drops privileges to _apt when it can; that user cannot
# write to our temp dir, so root downloads unsandboxed (apt still checks the
# package's hash against the signed lists).
sandbox_opt=()
[[ $(id -u) -eq 0 ]] && sandbox_opt=(-o APT::Sandbox::User=root)
download() { (cd "$tmp" && apt-get download -q "${sandbox_opt[@]}" "$pkg=$ver" >&2); }
log "downloading $pkg $ver"
if ! download; then
	# Stale lists name a file the mirror has replaced: refresh and resolve again.
	apt_update || { log "apt-get download $pkg=$ver failed"; exit 1; }
	read -r pkg ver <<<"$(resolve)"
	dir=$cache/${pkg}_$ver
	download
fi
deb=$(find "$tmp" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
[[ -n $deb ]] || { log "apt-get download left no .deb for $pkg"; exit 1; }
dpkg -x "$deb" "$tmp/x"
mkdir "$tmp/out"
cp "$tmp"/x/boot/vmlinuz-* "$tmp/out/vmlinuz"
cp "$tmp"/x/boot/config-* "$tmp/out/config"
(cd "$tmp/x" && cp --parents lib/modules/*/kernel/fs/overlayfs/overlay.ko lib/modules/*/kernel/drivers/net/tun.ko "$tmp/out/")
echo "$pkg $ver" >"$tmp/out/package"

# The VM needs these built in (it loads no modules).
missing=()
for opt in BLK_DEV_INITRD DEVTMPFS TMPFS CGROUPS MEMCG CGROUP_PIDS USER_NS PID_NS NET_NS \
	SERIAL_8250_CONSOLE UNIX SYSVIPC; do
	grep -qx "CONFIG_$opt=y" "$tmp/out/config" || missing+=("CONFIG_$opt")
done
if ((${#missing[@]})); then
	log "$pkg lacks what the test VM needs built in: ${missing[*]}"
	exit 1
fi

# Publish atomically; a concurrent run may have published the same kernel.
rm -rf "$dir.old" && { [[ ! -e $dir ]] || mv -T "$dir" "$dir.old"; }
mv -T "$tmp/out" "$dir" 2>/dev/null || [[ -s $dir/vmlinuz ]]
rm -rf "$dir.old"
for old in "$cache"/linux-image-*; do
	[[ $old == "$dir" ]] || rm -rf "$old"
done
log "$pkg $ver: $(du -h "$dir/vmlinuz" | cut -f1) vmlinuz in $dir"
echo "$dir/vmlinuz"
