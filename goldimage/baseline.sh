#!/bin/bash
# goldimage/baseline.sh - baseline a gold image (an attached gold volume, a raw image file,
# or a snapshot restored to a volume) into a .dtree, reading every filesystem deltair can
# read raw (ext4, XFS v5 - the Amazon Linux and RHEL default -, FAT/EFI, ...); an XFS that
# deltair skipped (v4, without metadata CRCs) is mounted read-only with norecovery (nothing
# on the evidence changes) and read through dir:.
#   goldimage/baseline.sh DEVICE|IMAGE OUT_PREFIX
# Writes OUT_PREFIX.dtree for what deltair reads raw, and OUT_PREFIX-pN.dtree for each
# partition read through a mount; prints what it wrote. Run as root.
set -euo pipefail
dev=${1:?usage: baseline.sh DEVICE|IMAGE OUT_PREFIX}
out=${2:?usage: baseline.sh DEVICE|IMAGE OUT_PREFIX}
deltair=${DELTAIR:-deltair}
mnt=$(mktemp -d /tmp/deltair-gold-XXXXXX)
loop=
cleanup() {
	mountpoint -q "$mnt" && umount "$mnt"
	[ -n "$loop" ] && losetup -d "$loop"
	rmdir "$mnt"
}
trap cleanup EXIT

rc=0
err=$("$deltair" baseline --no-progress -o "$out.dtree" "$dev" 2>&1 >/dev/null) || rc=$?
printf '%s\n' "$err" >&2
if [ "$rc" = 0 ]; then
	echo "$out.dtree"
fi
# Every partition deltair skipped that looks like XFS (v4): read it through a mount.
sgdisk -p "$dev" >/dev/null 2>&1 || exit "$rc"
while read -r num start end; do
	name=p$num
	grep -q "note: $name at byte [0-9]* skipped" <<< "$err" || continue
	# XFS: its superblock magic at the partition's first byte.
	magic=$(dd if="$dev" bs=512 skip="$start" count=1 status=none | head -c 4)
	[ "$magic" = XFSB ] || continue
	loop=$(losetup -f --show -r -o $((start * 512)) --sizelimit $(((end - start + 1) * 512)) "$dev")
	mount -o ro,norecovery,nouuid "$loop" "$mnt"
	"$deltair" baseline --no-progress -o "$out-$name.dtree" "dir:$mnt"
	umount "$mnt"; losetup -d "$loop"; loop=
	echo "$out-$name.dtree"
done < <(sgdisk -p "$dev" | awk '/^ +[0-9]+ +[0-9]+ +[0-9]+/ {print $1, $2, $3}')
