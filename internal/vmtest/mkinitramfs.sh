#!/usr/bin/env bash
# mkinitramfs.sh OUT PAYLOAD_DIR KERNEL_DIR: packs the test VM's initramfs.
#
# The image is a small merged-/usr Debian look-alike, so that the sandbox's
# default binds (/usr, and /bin, /sbin, /lib, /lib64 as symlinks into it)
# find what they would on a Debian host:
#   /usr/bin/busybox (busybox-static) and its applets as the links
#     `busybox --install -s` makes (sh, env, sleep, id, dd, grep, ip, ...),
#     in /usr/bin and /usr/sbin, hence also in /bin and /sbin;
#   /usr/bin/true and /usr/bin/false as programs of their own: a test binds
#     one over the other, which a busybox link, dispatching on argv[0],
#     would not notice;
#   /etc: passwd, group (root, tty, corral 1000, nobody), hostname, hosts,
#     nsswitch.conf, os-release, ssl/certs and ssl/private (empty);
#   /usr/lib/modules/ from KERNEL_DIR (fetch-kernel.sh: overlay.ko);
#   /init (this folder's init) and PAYLOAD_DIR as /vmtest (run.sh makes it:
#     runas, tests/NAME.test, tests.list (NAME.test...), env, args,
#     pkg/NAME/).
# Everything is owned by root in the image, whoever builds it.
# Knob: CORRAL_VM_INITRD_GZIP=1 compresses the image (slower to boot under TCG).
set -euo pipefail

if (($# != 3)); then
	echo "usage: mkinitramfs.sh OUT PAYLOAD_DIR KERNEL_DIR" >&2
	exit 2
fi
out=$1 payload=$2 kdir=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

busybox=$(command -v busybox) || die "no busybox; install busybox-static"
if readelf -lW "$busybox" | grep -q 'program interpreter'; then
	die "$busybox is dynamically linked; install busybox-static"
fi

r=$(mktemp -d)
trap 'rm -rf "$r"' EXIT
mkdir -p "$r"/usr/{bin,sbin,lib,lib64} "$r"/{dev,etc,home,newroot,proc,root,run,sys,tmp}
chmod 700 "$r/root"
chmod 1777 "$r/tmp"
for d in bin sbin lib lib64; do
	ln -s "usr/$d" "$r/$d"
done

cp "$busybox" "$r/usr/bin/busybox"
# exit_program STATUS OUT: a static program that only exits with STATUS.
exit_program() {
	printf '%s\n' 'void _start(void) { for (;;) __asm__ volatile("syscall" : : "a"(231), "D"(STATUS)); }' |
		gcc -x c - -DSTATUS="$1" -O2 -static -nostdlib -s -fno-asynchronous-unwind-tables \
			-Wl,--build-id=none -o "$2"
}
exit_program 0 "$r/usr/bin/true"
exit_program 1 "$r/usr/bin/false"
# What `busybox --install -s` would link, written relative (usr/bin/sh ->
# busybox) so that the links work wherever /usr is bound. Existing files win.
while read -r applet; do
	case $applet in
	bin/* | sbin/*) applet=usr/$applet ;;
	usr/*) ;;
	*) continue ;; # linuxrc
	esac
	[[ -e $r/$applet || -L $r/$applet ]] || ln -sr "$r/usr/bin/busybox" "$r/$applet"
done < <("$busybox" --list-full)
# The programs the tests run, at the paths they use (merged /usr gives both).
for p in sh env sleep true false echo cat ls id hostname dd tr cut grep wc head tail stat \
	touch chmod mkdir pwd test kill; do
	[[ -x $r/usr/bin/$p ]] || die "busybox has no $p applet; the tests need /usr/bin/$p"
done

cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
corral:x:1000:1000:Corral tests:/home/corral:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$r/etc/group" <<'EOF'
root:x:0:
tty:x:5:
corral:x:1000:
nogroup:x:65534:
EOF
echo corral-vm >"$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tcorral-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$r/etc/nsswitch.conf"
cat >"$r/usr/lib/os-release" <<'EOF'
PRETTY_NAME="Corral test VM (busybox on Debian's cloud kernel)"
NAME="Corral test VM"
ID=corral-vm
ID_LIKE=debian
EOF
ln -s ../usr/lib/os-release "$r/etc/os-release"
# As ca-certificates and openssl leave them (the sandbox binds the first and
# must hide the second).
mkdir -p "$r/etc/ssl/certs" "$r/etc/ssl/private"
chmod 700 "$r/etc/ssl/private"

if [[ -d $kdir/lib/modules ]]; then
	cp -R "$kdir/lib/modules" "$r/usr/lib/"
fi
install -m 755 "$here/init" "$r/init"
cp -R "$payload" "$r/vmtest"
chmod -R go-w,a+rX "$r/vmtest"

compress=(cat)
[[ ${CORRAL_VM_INITRD_GZIP:-0} == 1 ]] && compress=(gzip -1)
(cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
	"${compress[@]}" >"$out"
