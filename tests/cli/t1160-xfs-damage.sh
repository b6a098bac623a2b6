#!/bin/bash
# t1160: damaged XFS metadata read raw: a flipped byte in an inode, a directory block (single
# block and a data block of a bigger directory), a short-form directory, an extent B+tree
# block, a remote symlink block, the AGI (the AGFs: t1172) or an inode B+tree block gives an error naming the entry and what was wrong, never
# wrong data (the rest of the tree is read, and equals the undamaged baseline); a damaged
# superblock, a v4 filesystem and one that needs repair are refused with their reason;
# many random flips across inodes and directory blocks never crash the walk; a directory
# entry that loops back to the root is reported and not walked again; a name in the free
# space of a directory block whose inode number lies past the end of the filesystem is no
# deleted name.
# Oracle: xfs_db says where each structure lies; the undamaged image's baseline.
. "$TOP/tests/cli/lib.sh"
need mkfs.xfs xfs_db python3 jq

truncate -s 320M x.img
mkfs.xfs -q -f x.img > /dev/null 2>&1 || die "mkfs.xfs failed"
t_mount x.img fill loop
(
	set -e
	cd fill
	mkdir sf block leaf other
	printf 'a file\n' > sf/file
	printf 'victim\n' > other/victim
	printf 'bystander\n' > other/bystander
	ln -s "$(printf 'r%.0s' $(seq 1000))" other/remote-link
	for i in $(seq 40); do ln -s t "block/entry-$i"; done
	for i in $(seq 600); do ln -s t "leaf/a-somewhat-longer-entry-name-$i"; done
	python3 -c '
import os
a = os.open("other/frag", os.O_WRONLY | os.O_CREAT, 0o644)
b = os.open("other/spacer", os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(100):
    os.posix_fallocate(a, i * 4096, 4096)
    os.posix_fallocate(b, i * 4096, 4096)
os.pwrite(a, b"x" * 409600, 0)
'
) || die "filling the image failed"
umount fill || die "umount failed"

dt_ok baseline --no-progress -o clean.dtree x.img
grep -q -E '(^|[ ,])0 errors' err || die "the undamaged image gives errors: $(cat err)"
dt_ok tree export --format jsonl clean.dtree
cp out clean.jsonl

# where PATH [dblock N | bmbt]: the byte offset of PATH's inode, its Nth directory or
# symlink block, or its first extent B+tree block.
where()
{
	local cmds=(-c "path $1")
	case ${2:-} in
	dblock) cmds+=(-c "dblock $3") ;;
	bmbt) cmds+=(-c 'addr u3.bmbt.ptrs[1]') ;;
	esac
	xfs_db -r "${cmds[@]}" -c stack x.img | sed -n 's/.*byte offset \([0-9]*\),.*/\1/p' | head -1
}

# flip OFFSET: invert one byte (twice restores it).
flip()
{
	local b
	b=$(od -An -tu1 -j "$1" -N1 x.img | tr -d ' ')
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((b ^ 255)))" | dd of=x.img bs=1 seek="$1" conv=notrunc status=none
}

# damaged WHAT OFFSET PATH MESSAGE [GONE_REGEX]: with the byte at OFFSET flipped, the
# baseline finishes, reports MESSAGE for PATH, and every entry but PATH's (and those
# matching GONE_REGEX) is read as the undamaged baseline has it.
damaged()
{
	local what=$1 off=$2 path=$3 msg=$4 gone=${5:-^$3\$}
	[ -n "$off" ] || {
		fail "$what: xfs_db did not say where it is"
		return
	}
	flip "$off"
	dt baseline --no-progress -o "d.dtree" x.img
	flip "$off"
	# Damage is a read error: the tree is written and the run says it is incomplete (8).
	[ "$rc" -eq 8 ] || {
		fail "$what: baseline exited $rc, not 8 (incomplete): $(head -c 1000 err)"
		return
	}
	grep -q -F "p0:$path: " err || fail "$what: no error for $path: $(head -c 1000 err)"
	grep -q -F "$msg" err || fail "$what: no '$msg' in: $(head -c 1000 err)"
	dt_ok tree export --format jsonl d.dtree
	python3 - clean.jsonl out "$gone" << 'EOF' || fail "$what: the entries left differ from the undamaged image's"
import json, re, sys
gone = re.compile(sys.argv[3])
keys = ("type", "mode", "uid", "gid", "size", "link_target", "sha256", "inode", "mtime")
def load(f):
    return {e["path"]: tuple(e.get(k) for k in keys) for e in map(json.loads, open(f))
            if not gone.search(e["path"])}
a, b = load(sys.argv[1]), load(sys.argv[2])
for p in sorted(set(a) | set(b)):
    if a.get(p) != b.get(p):
        print("  %s: want %s got %s" % (p, a.get(p), b.get(p)))
sys.exit(a != b)
EOF
}

damaged "file inode" $(($(where /other/victim) + 60)) /other/victim "CRC mismatch"
damaged "short-form directory inode" $(($(where /sf) + 200)) /sf "CRC mismatch" '^/sf(/|$)'
damaged "single-block directory" $(($(where /block dblock 0) + 200)) /block "damaged block" \
	'^/block/'
damaged "data block of a leaf directory" $(($(where /leaf dblock 1) + 300)) /leaf \
	"damaged block" '^/leaf/'
damaged "remote symlink block" $(($(where /other/remote-link dblock 0) + 100)) \
	/other/remote-link "damaged symlink block"
damaged "extent B+tree block" $(($(where /other/frag bmbt) + 100)) /other/frag \
	"damaged extent btree block"
# The data of a file whose map is damaged is not given: the entry is marked unreadable.
grep '"path":"/other/frag"' out | grep -q '"sha256":"' && fail "a file with a damaged extent map has a content hash"

# The AGI and the inode B+tree, read with --include-meta (for the inodes no name reaches): an
# error that says which, the walk finished, and no entry made up or lost.
ag_where()
{
	xfs_db -r -c 'agi 0' "$@" -c stack x.img | sed -n 's/.*byte offset \([0-9]*\),.*/\1/p' | head -1
}
for d in "AGI:$(($(ag_where) + 20)):AG 0: damaged AGI" \
	"inode btree block:$(($(ag_where -c 'addr root') + 100)):AG 0: damaged inode btree block"; do
	IFS=: read -r what off msg <<< "$d"
	flip "$off"
	dt baseline --no-progress --include-meta -o d.dtree x.img
	flip "$off"
	[ "$rc" -eq 8 ] || fail "$what: baseline --include-meta exited $rc, not 8: $(head -c 1000 err)"
	grep -q -F "$msg" err || fail "$what: no '$msg' in: $(head -c 1000 err)"
	dt_ok tree export --format jsonl d.dtree
	cmp -s clean.jsonl out || fail "$what: the entries differ from the undamaged image's: $(diff clean.jsonl out | head -5)"
done

# The superblock: the whole filesystem is refused, with the reason.
flip 100
dt baseline --no-progress -o d.dtree x.img
flip 100
expect_rc 3 "damaged superblock"
grep -q "XFS superblock CRC mismatch" err || fail "damaged superblock: $(cat err)"

# Random flips in inodes and directory blocks: the walk always finishes.
find_inodes()
{
	python3 - x.img clean.jsonl << 'EOF'
import base64, json, struct, sys
sb = open(sys.argv[1], "rb").read(512)
bs, = struct.unpack(">I", sb[4:8])
agblocks, = struct.unpack(">I", sb[84:88])
isize, = struct.unpack(">H", sb[104:106])
inopblog, agblklog = sb[123], sb[124]
for l in open(sys.argv[2]):
    ino = json.loads(l)["inode"]
    agno, agino = ino >> (inopblog + agblklog), ino & ((1 << (inopblog + agblklog)) - 1)
    print((agno * agblocks + (agino >> inopblog)) * bs + (agino & ((1 << inopblog) - 1)) * isize, isize)
EOF
}
find_inodes > spots
for d in /block /leaf; do
	for n in 0 1 2; do
		o=$(where $d dblock $n)
		[ -n "$o" ] && echo "$o 4096" >> spots
	done
done
[ "$(wc -l < spots)" -gt 600 ] || fail "only $(wc -l < spots) metadata structures found"
# flips ROUND: flip one bit in each of 60 random structures (run twice, restores them).
flips()
{
	python3 - x.img spots "$1" << 'EOF'
import random, sys
rnd = random.Random(int(sys.argv[3]))
spots = [tuple(map(int, l.split())) for l in open(sys.argv[2])]
with open(sys.argv[1], "r+b") as f:
    for off, n in rnd.sample(spots, 60):
        at = off + rnd.randrange(n)
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ (1 << rnd.randrange(8))]))
EOF
}
for round in 1 2 3 4 5 6; do
	flips "$round"
	dt baseline --no-progress -o r.dtree x.img
	flips "$round"
	[ "$rc" -eq 8 ] || fail "round $round: baseline exited $rc, not 8: $(head -c 600 err)"
	grep -q -E '[1-9][0-9]* errors' err || fail "round $round: 60 flips and no error: $(tail -1 err)"
done
dt_ok baseline --no-progress -o again.dtree x.img
grep -q -E '(^|[ ,])0 errors' err || die "the flips were not undone: $(cat err)"

# A directory entry pointing back at the root (a loop): said once, not walked again.
truncate -s 320M loop.img
mkfs.xfs -q -f loop.img > /dev/null 2>&1 || die "mkfs.xfs failed"
t_mount loop.img fill loop
mkdir -p fill/a/child && printf 'x\n' > fill/a/f || die "filling loop.img failed"
umount fill || die "umount failed"
root=$(xfs_db -r -c sb -c 'print rootino' loop.img | sed 's/.* = //')
xfs_db -x -c 'path /a' -c "write u3.sfdir3.list[0].inumber.i4 $root" loop.img > /dev/null ||
	die "xfs_db could not rewrite /a/child"
dt baseline --no-progress -o loop.dtree loop.img
expect_rc 8 "a directory loop"
grep -q -F "p0:/a/child: directory inode $root already walked (loop); not walked again" err ||
	fail "a directory loop: $(cat err)"
dt_ok tree export --format jsonl loop.dtree
jq -r .path out | sort | tr '\n' ' ' | grep -q -x -F '/ /a /a/child /a/f ' ||
	fail "a directory loop: entries $(jq -r .path out | tr '\n' ' ')"

# Names crafted into the free space of a directory block (a hostile image; the block's CRC
# made right again): one whose inode number is inside the filesystem is a deleted name; one
# whose inode number lies in the last, shorter AG past the end of the filesystem is none.
truncate -s 320M ghost.img
mkfs.xfs -q -f -d agsize=96m ghost.img > /dev/null 2>&1 || die "mkfs.xfs -d agsize=96m failed"
t_mount ghost.img fill loop
mkdir fill/d && for i in $(seq 40); do : > "fill/d/f-$i"; done || die "filling ghost.img failed"
inside=$(stat -c %i fill/d/f-7)
umount fill || die "umount failed"
sbf()
{
	xfs_db -r -c sb -c "print $1" ghost.img | sed 's/.* = //'
}
agcount=$(sbf agcount) agblocks=$(sbf agblocks) dblocks=$(sbf dblocks) bsize=$(sbf blocksize)
[ "$dblocks" -lt $((agcount * agblocks)) ] || die "ghost.img: the last AG is not shorter"
# An inode number of the last AG, 100 blocks past the end of the filesystem but inside
# agblocks; xfs_db puts it past the end too.
outside=$(((agcount - 1) << ($(sbf agblklog) + $(sbf inopblog)) |
	(dblocks - (agcount - 1) * agblocks + 100) << $(sbf inopblog)))
daddr=$(xfs_db -r -c "convert ino $outside daddr" ghost.img | sed 's/.*(\([0-9]*\))/\1/')
[ "$((daddr * 512))" -ge "$((dblocks * bsize))" ] || die "inode $outside is inside ghost.img"
dblk=$(xfs_db -r -c 'path /d' -c 'dblock 0' -c stack ghost.img |
	sed -n 's/.*byte offset \([0-9]*\),.*/\1/p')
free=$(xfs_db -r -c 'path /d' -c 'dblock 0' -c 'print bhdr.bestfree[0].offset' ghost.img |
	sed 's/.* = //')
python3 - ghost.img "$dblk" "$((free))" "$outside" "$inside" << 'EOF' || die "crafting failed"
import struct, sys
img, blk, off, outside, inside = sys.argv[1], *map(int, sys.argv[2:])
def ent(ino, name):  # a removed entry: its tag says the free region's start
    elen = (8 + 1 + len(name) + 1 + 2 + 7) & ~7
    e = struct.pack(">QB", ino, len(name)) + name + b"\x01"
    return e + b"\0" * (elen - 2 - len(e)) + struct.pack(">H", off)
with open(img, "r+b") as f:
    f.seek(blk + off + 8)
    f.write(ent(outside, b"ghost-outside"))
    f.seek(blk + off + 64)
    f.write(ent(inside, b"ghost-inside"))
EOF
xfs_db -x -c 'path /d' -c 'dblock 0' -c 'crc -r' ghost.img > /dev/null 2>&1 || die "crc -r failed"
dt_ok baseline --no-progress -o ghost.dtree ghost.img
dt_ok tree export --format jsonl ghost.dtree
jq -s -e --argjson i "$inside" \
	'any(.[]; .path == "/d/ghost-inside" and .deleted_entry == true and .inode == $i)' \
	out > /dev/null || fail "the crafted removed name is not a deleted name: $(grep ghost out)"
! grep -q ghost-outside out || fail "a name with an inode past the end: $(grep ghost-outside out)"

# A v4 filesystem and one that needs repair: refused, saying why.
truncate -s 320M v4.img
mkfs.xfs -q -f -m crc=0 v4.img > /dev/null 2>&1 || die "mkfs.xfs -m crc=0 failed"
dt baseline --no-progress -o v4.dtree v4.img
expect_rc 3 "v4 filesystem"
grep -q "XFS v4 (without metadata CRCs) is not supported" err || fail "v4: $(cat err)"
incompat=$(xfs_db -r -c 'sb 0' -c 'print features_incompat' x.img | sed 's/.* = //')
xfs_db -x -c 'sb 0' -c "write -d features_incompat $((incompat | 0x10))" x.img > /dev/null 2>&1 ||
	die "xfs_db could not set needsrepair"
dt baseline --no-progress -o nr.dtree x.img
expect_rc 3 "needsrepair filesystem"
grep -q "XFS filesystem needs repair" err || fail "needsrepair: $(cat err)"

t_done
