#!/bin/bash
# tests/bench/mount.sh - sequential read of a large file through `deltair mount` against a
# kernel read-only loop mount of the same ext4 image, warm cache: each mount's file is read
# once, then timed (dd, 1 MiB reads), median of RUNS. Prints one markdown table row:
#   | mount: ... (first read through deltair: F MB/s) | deltair MB/s | loop mount MB/s | ratio |
# "first read" is the pass that deltair serves itself (from the image in the page cache);
# the timed warm pass is served from the view's page cache, as the loop mount's is.
#   tests/bench/mount.sh [--header] [SIZE_MIB]   (root; env DELTAIR (default build/deltair), RUNS)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deltair=${DELTAIR:-$top/build/deltair}
runs=${RUNS:-5}
target=0.50
if [ "${1:-}" = --header ]; then
	echo "| benchmark | deltair | peer | deltair / peer |"
	echo "|---|---:|---:|---:|"
	shift
fi
mib=${1:-512}
name="mount: sequential read of a $mib MiB file, warm"
row_skip() { echo "| $name | skipped: $1 | | |"; exit 0; }
[ "$(id -u)" = 0 ] || row_skip "needs root (loop mount)"
[ -c /dev/fuse ] || row_skip "no /dev/fuse"
[ -x "$deltair" ] || row_skip "no deltair binary at $deltair"

work=$(mktemp -d "${TMPDIR:-/tmp}/deltair-bench-mount-XXXXXX")
loop_mnt=$work/loop fuse_mnt=$work/fuse
cleanup()
{
	mountpoint -q "$fuse_mnt" 2> /dev/null && { fusermount3 -u "$fuse_mnt" || umount -l "$fuse_mnt"; }
	mountpoint -q "$loop_mnt" 2> /dev/null && umount "$loop_mnt"
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/tree" "$loop_mnt" "$fuse_mnt"
head -c $((mib * 1048576)) /dev/urandom > "$work/tree/big.bin"
truncate -s $(((mib + mib / 8 + 64) * 1048576)) "$work/img.ext4"
mke2fs -q -F -t ext4 -d "$work/tree" "$work/img.ext4" > /dev/null
rm -f "$work/tree/big.bin"

# Microseconds to read FILE sequentially with 1 MiB reads.
read_us()
{
	local t0 t1
	t0=$(date +%s%N)
	dd if="$1" of=/dev/null bs=1M status=none
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mbs() { awk -v b=$((mib * 1048576)) -v us="$1" 'BEGIN { printf "%.0f", b / us }'; }

# Rounds alternate between the two mounts, so that both see the same load on the machine.
mount -o ro,noload,loop "$work/img.ext4" "$loop_mnt"
read_us "$loop_mnt/big.bin" > /dev/null
: > "$work/loop.us"
: > "$work/first"
: > "$work/warm"
for _ in $(seq 1 "$runs"); do
	read_us "$loop_mnt/big.bin" >> "$work/loop.us"
	"$deltair" mount --no-progress "$work/img.ext4" "$fuse_mnt"
	cat "$work/img.ext4" > /dev/null # the image in the page cache, as the loop's file is
	read_us "$fuse_mnt/big.bin" >> "$work/first"
	read_us "$fuse_mnt/big.bin" >> "$work/warm"
	fusermount3 -u "$fuse_mnt"
done
umount "$loop_mnt"
loop_us=$(median < "$work/loop.us")
first_us=$(median < "$work/first")
fuse_us=$(median < "$work/warm")

ratio=$(awk -v a="$loop_us" -v b="$fuse_us" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "met" : "MISSED" }')
echo "| $name (first read through deltair: $(mbs "$first_us") MB/s) | $(mbs "$fuse_us") MB/s | loop mount $(mbs "$loop_us") MB/s | ${ratio}× (target ≥ ${target}: $verdict) |"
