#!/bin/bash
# image/vm/mkimage.sh - the deltair appliance as a local VM image, with no VM and no network
# past the base: the Debian 12 base root (image/vm/mkbase.sh, cached), provisioned in a
# chroot by the same scripts Packer runs (image/provision.sh, then image/cleanup.sh) with the
# package `make deb` built, then written into a raw ext4 disk by mke2fs -d (no loop device).
# The disk has no boot loader: QEMU boots it with the kernel and initrd copied beside it:
#   qemu-system-x86_64 -m 2G -kernel OUT/vmlinuz -initrd OUT/initrd.img \
#     -append "root=/dev/vda rw console=ttyS0" -drive file=OUT/deltair.raw,format=raw,if=virtio
#   image/vm/mkimage.sh [--extra DIR] [--size SIZE] DEB OUTDIR
#     --extra DIR   copy DIR's tree into the root after the clean-up (the boot test's own
#                   observer unit; never part of the appliance)
#     --size SIZE   the root disk's size (mke2fs units; default 3G, sparse)
# Makes OUTDIR/{deltair.raw,vmlinuz,initrd.img}, and leaves the provisioned root in OUTDIR/root
# (what went into the disk: its /etc/passwd gives the deltair user's ids for a seed disk).
# Run as root (chroot, mount namespace).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=$(cd "$here/.." && pwd)
extra='' size=3G
while [ $# -gt 0 ]; do
	case $1 in
	--extra) extra=$(readlink -f "$2"); shift 2 ;;
	--size) size=$2; shift 2 ;;
	-*) echo "mkimage: unknown option '$1'" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || { echo "usage: mkimage.sh [--extra DIR] [--size SIZE] DEB OUTDIR" >&2; exit 2; }
deb=$(readlink -f "$1")
out=$2
[ -s "$deb" ] || { echo "mkimage: no package at $1 (make deb)" >&2; exit 2; }
mkdir -p "$out"
out=$(readlink -f "$out")
root=$out/root
rm -rf "$root" "$out/deltair.raw"

"$here/mkbase.sh" "$root" > /dev/null
# What Packer uploads: the package as /tmp/deltair.deb, image/ as /tmp/image.
install -m 0644 "$deb" "$root/tmp/deltair.deb"
cp -R "$image" "$root/tmp/image"
# In a private mount namespace: /proc, /sys and /dev go away with it, whatever happens.
# shellcheck disable=SC2016 # the inner script's own variables
unshare --mount --propagation private /bin/bash -euc '
	r=$1
	mount -t proc proc "$r/proc"
	mount -t sysfs sysfs "$r/sys"
	mount --rbind /dev "$r/dev"
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
		DELTAIR_DEB=/tmp/deltair.deb DELTAIR_IMAGE=/tmp/image \
		chroot "$r" /bin/bash -c "/tmp/image/provision.sh && /tmp/image/cleanup.sh"
' mkimage "$root"
[ -z "$extra" ] || cp -R "$extra/." "$root/"
newest() { printf '%s\n' "$@" | sort -V | tail -n 1; }
cp "$(newest "$root"/boot/vmlinuz-*)" "$out/vmlinuz"
cp "$(newest "$root"/boot/initrd.img-*)" "$out/initrd.img"
mke2fs -q -F -t ext4 -L deltair-root -d "$root" "$out/deltair.raw" "$size"
echo "mkimage: $out/deltair.raw (boot: $out/vmlinuz, $out/initrd.img)" >&2
