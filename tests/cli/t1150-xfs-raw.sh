#!/bin/bash
# t1150: XFS v5 images read raw (type "xfs", no kernel mount) hold every entry with the
# metadata and content the kernel shows: several geometries (4 KiB and 1 KiB blocks, bigtime
# on and off, directory blocks of 4, 8 and 64 KiB, 512 B and 2 KiB inodes, nrext64), and
# every directory format (short form, block, leaf, node, B+tree), extent and B+tree files,
# holes, unwritten (fallocate) extents, reflinked copies, local and remote symlinks, hard
# links, devices, fifos, sockets, long and non-UTF-8 names, times before 1970 and after 2038.
# Oracle: the kernel: find -printf, stat and sha256sum over the image mounted read-only.
. "$TOP/tests/cli/lib.sh"
need mkfs.xfs xfs_db xfs_io python3 fallocate

fixture_tree tree

# The XFS-specific hard cases, written through a loop mount of the new filesystem.
fill()
{
	local m=$1 bigtime=$2 big=$3
	cp -a tree/. "$m"/ || die "cp -a into $m failed"
	python3 - "$m" "$big" << 'EOF' || die "filling $m failed"
import os, sys
m, big = sys.argv[1], int(sys.argv[2])
x = os.path.join(m, "xfs")
os.mkdir(x)
# Directories of every size: short form, block, leaf, node (and B+tree when fragmented).
for n, count in (("d-short", 3), ("d-block", 40), ("d-leaf", 400), ("d-node", 3000)) + \
        ((("d-big", big),) if big else ()):
    d = os.path.join(x, n)
    os.mkdir(d)
    for i in range(count):
        os.symlink("t%d" % i, os.path.join(d, "entry-%06d-%s" % (i, "n" * (i % 40))))
# A file in many extents (B+tree data fork): blocks allocated in turn with another file
# (fallocate allocates at once, unlike delayed allocation), then written; then more
# extents with holes between them.
a = os.open(os.path.join(x, "fragmented"), os.O_WRONLY | os.O_CREAT, 0o644)
b = os.open(os.path.join(x, "spacer"), os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(160):
    os.posix_fallocate(a, i * 4096, 4096)
    os.posix_fallocate(b, i * 4096, 4096)
for i in range(60):
    os.posix_fallocate(a, (200 + i * 3) * 4096, 4096)
    os.posix_fallocate(b, (200 + i * 3) * 4096, 4096)
for i in range(160):
    os.pwrite(a, bytes([i % 251]) * 4096, i * 4096)
    os.pwrite(b, bytes([i % 13]) * 4096, i * 4096)
for i in range(60):
    os.pwrite(a, b"hole-separated %d" % i, (200 + i * 3) * 4096)
os.fsync(a)
os.fsync(b)
os.close(a)
os.close(b)
# A symlink whose target needs a block of its own (remote), and a local one.
os.symlink("r" * 1000 + "/end", os.path.join(x, "remote-link"))
os.symlink("local", os.path.join(x, "local-link"))
# A directory whose entries are themselves many directories (walk order, nlink).
os.mkdir(os.path.join(x, "d-subdirs"))
for i in range(30):
    os.mkdir(os.path.join(x, "d-subdirs", "sub%02d" % i))
EOF
	(
		set -e
		cd "$m/xfs"
		# Preallocated (unwritten) extents read as zeros; data written in the middle of one;
		# preallocation past the end of the file is not content.
		fallocate -l 1M prealloc
		fallocate -l 1M mixed
		printf 'written inside an unwritten extent' | dd of=mixed bs=1 seek=300000 conv=notrunc status=none
		printf 'short' > keep-size
		fallocate -n -l 2M keep-size
		truncate -s 3M sparse-tail
		printf 'start' | dd of=sparse-tail conv=notrunc status=none
		# Reflinked copies share their blocks.
		cp --reflink=always ../data/random.bin reflinked
		cp --reflink=always ../data/one-mib.txt reflinked-2
		printf 'changed' | dd of=reflinked-2 bs=1 seek=4096 conv=notrunc status=none
		# Times before 1970, and after 2038 where the filesystem has bigtime.
		printf 'old\n' > old
		touch -h -d '1950-06-01 01:02:03.456789012 UTC' old
		if [ "$2" = 1 ]; then
			printf 'future\n' > future
			touch -h -d '2200-01-01 00:00:00.999999999 UTC' future
		fi
	) || die "filling $m/xfs failed"
	[ "$bigtime" = 1 ] || true
}

# Times of every entry to the nanosecond from lstat (find's %T@ drops times before 1970);
# the birth time stays stat's %W, as the oracle takes it.
exact_times()
{
	python3 - "$1" "$2" << 'EOF'
import base64, json, os, sys
root = sys.argv[1]
for line in open(sys.argv[2]):
    r = json.loads(line)
    st = os.lstat(root + base64.b64decode(r["p"]).decode("utf-8", "surrogateescape"))
    r["mtime_ns"], r["atime_ns"], r["ctime_ns"] = st.st_mtime_ns, st.st_atime_ns, st.st_ctime_ns
    print(json.dumps(r, sort_keys=True))
EOF
}

check_image()
{
	local name=$1 img=$2 hashes=${3:-}
	t_mount_ro "$img" "mnt-$name" xfs
	oracle "mnt-$name" p0 $hashes > "want-$name.jsonl.0"
	exact_times "mnt-$name" "want-$name.jsonl.0" > "want-$name.jsonl"
	dt_ok baseline --no-progress -o "$name.dtree" "$img"
	grep -q -E '(^|[ ,])0 errors' err || fail "$name: baseline reported errors: $(head -c 1500 err)"
	dt_ok tree export --format jsonl "$name.dtree"
	grep -q '"fs":"p0"' out || fail "$name: no entries exported"
	dt_ok tree info "$name.dtree"
	grep -q xfs out || fail "$name: the filesystem's type is not xfs: $(cat out)"
	dt_ok tree export --format jsonl "$name.dtree"
	canon_jsonl < out > "got-$name.jsonl"
	note "$name: $(wc -l < "got-$name.jsonl") entries read raw, $(wc -l < "want-$name.jsonl") through the kernel"
	compare "want-$name.jsonl" "got-$name.jsonl" fs type mode uid gid size link sha256 inode \
		mtime_ns atime_ns ctime_ns crtime_ns ||
		fail "$name: entries differ from the kernel's view (find -printf, lstat, sha256sum)"
}

# The data fork format of PATH in IMG (xfs_db on the filled image): local, extents, btree.
format_of()
{
	xfs_db -r -c "path $2" -c 'print core.format' "$1" 2> /dev/null | sed 's/.*(\(.*\))/\1/'
}

# The formats the test means to cover are really there.
expect_formats()
{
	local img=$1 path want got
	shift
	while [ $# -gt 0 ]; do
		path=$1 want=$2
		shift 2
		got=$(format_of "$img" "$path")
		[ "$got" = "$want" ] || fail "$img: $path is in format '$got', the test wants $want"
	done
}

# 1: the defaults of this xfsprogs (4 KiB blocks, 512 B inodes, bigtime, reflink), one
# directory big enough for a B+tree of its own (or a node directory in many extents).
truncate -s 300M a.img
mkfs.xfs -q -f -m bigtime=1 a.img > /dev/null 2>&1 || die "mkfs.xfs a.img failed"
t_mount a.img fill-a loop
fill fill-a 1 20000
umount fill-a || die "umount fill-a failed"
expect_formats a.img /xfs/d-short local /xfs/d-block extents /xfs/d-leaf extents \
	/xfs/d-big btree /xfs/fragmented btree /xfs/remote-link extents /xfs/local-link local
check_image a a.img

# 2: 1 KiB blocks, 8 KiB directory blocks (a directory block spans several filesystem
# blocks), no bigtime.
truncate -s 320M b.img
mkfs.xfs -q -f -b size=1024 -n size=8192 -m bigtime=0,reflink=1 b.img > /dev/null 2>&1 ||
	die "mkfs.xfs b.img failed"
t_mount b.img fill-b loop
fill fill-b 0 0
umount fill-b || die "umount fill-b failed"
# The same files as in a.img: their content hashes are the kernel's of a.img.
check_image b b.img want-a.jsonl

# 3: 64 KiB directory blocks, 2 KiB inodes, nrext64 where this xfsprogs knows it.
truncate -s 320M c.img
opts="-n size=65536 -i size=2048"
mkfs.xfs -q -f -i nrext64=1 -N c.img > /dev/null 2>&1 && opts="-n size=65536 -i size=2048,nrext64=1"
# shellcheck disable=SC2086
mkfs.xfs -q -f $opts c.img > /dev/null 2>&1 || die "mkfs.xfs $opts c.img failed"
t_mount c.img fill-c loop
fill fill-c 1 0
umount fill-c || die "umount fill-c failed"
check_image c c.img want-a.jsonl

t_done
