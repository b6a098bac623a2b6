#!/bin/bash
# t1173: an XFS directory entry whose name holds a '/' (a hostile image, its CRCs made right
# again; found by fuzz_xfs): the kernel calls the directory corrupt (readdir fails with
# "Structure needs cleaning"), so read raw the name is not given: an error names the
# directory and says why, every other name of it is read as the undamaged image has it,
# and the walk finishes. Both kinds: a single-block directory (40 names) and a short form
# one (in its inode).
# Oracle: the kernel (ls over a read-only mount); the undamaged image's baseline.
. "$TOP/tests/cli/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mkfs.xfs xfs_db python3 jq

truncate -s 320M x.img
mkfs.xfs -q -f x.img > /dev/null 2>&1 || die "mkfs.xfs failed"
t_mount x.img fill loop
(
	set -e
	mkdir fill/d fill/s
	for i in $(seq 40); do echo "$i" > "fill/d/file-$i"; done
	echo a > fill/s/aa && echo b > fill/s/bb && echo c > fill/s/cc
) || die "filling the image failed"
_t_umount "$(readlink -f fill)"
dt_ok baseline --no-progress -o clean.dtree x.img
dt_ok tree export --format jsonl clean.dtree
cp out clean.jsonl

at()
{
	xfs_db -r -c "path $1" "${@:2}" -c stack x.img | sed -n 's/.*byte offset \([0-9]*\),.*/\1/p' | head -1
}
blk=$(at /d -c 'dblock 0') ino=$(at /s)
[ -n "$blk" ] && [ -n "$ino" ] || die "xfs_db did not say where /d's block and /s's inode are"
# file-17 becomes file/17 in /d's block (its CRC32c computed again here: xfs_db will not
# write a block its own verifier rejects), bb becomes b/ in /s's inode (xfs_db crc -r).
python3 - x.img "$blk" "$ino" << 'EOF' || die "crafting failed"
import struct, sys
img, blk, ino = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
with open(img, "r+b") as f:
    f.seek(blk)
    b = bytearray(f.read(4096))
    i = b.index(b"file-17")
    b[i + 4] = ord("/")
    b[4:8] = b"\0\0\0\0"
    b[4:8] = struct.pack("<I", crc32c(b))
    f.seek(blk)
    f.write(b)
    f.seek(ino)
    b = f.read(512)
    f.seek(ino + b.index(b"bb") + 1)
    f.write(b"/")
EOF
xfs_db -x -c 'path /s' -c 'crc -r' x.img > /dev/null 2>&1 # exits 1: the verifier complains
xfs_db -r -c 'path /s' -c 'print v3.crc' x.img 2> /dev/null | grep -q '(correct)' ||
	die "/s's inode CRC is not right"
xfs_db -r -c 'path /d' -c 'dblock 0' -c 'print bhdr.hdr.crc' x.img 2> /dev/null | grep -q '(correct)' ||
	die "/d's block CRC is not right"

t_mount_ro x.img m xfs
for d in d s; do
	ls "m/$d" > /dev/null 2> lserr && fail "the kernel reads /$d"
	grep -q 'Structure needs cleaning' lserr || fail "the kernel's ls /$d: $(cat lserr)"
done
_t_umount "$(readlink -f m)"

dt baseline --no-progress -o bad.dtree x.img
expect_rc 8 "names with '/'"
grep -q -F "p0:/d: cannot read directory: directory inode" err &&
	grep -q -F "of block 0 has a name with '/' or NUL (not given)" err ||
	fail "no error for /d: $(cat err)"
grep -q -F "p0:/s: cannot read directory: directory inode" err &&
	grep -q -F "short form entry 1 has a name with '/' or NUL (not given)" err ||
	fail "no error for /s: $(cat err)"
dt_ok tree export --format jsonl bad.dtree
grep -v -E '"path":"/(d/file-17|s/bb)"' clean.jsonl | cmp -s - out ||
	fail "the other entries differ: $(grep -v -E '"path":"/(d/file-17|s/bb)"' clean.jsonl | diff - out | head -5)"

t_done
