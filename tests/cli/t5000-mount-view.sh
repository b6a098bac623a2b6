#!/bin/bash
# t5000-mount-view: `deltair mount` shows an ext4 image exactly as the kernel does: names,
# types, modes, owners, sizes, symlink targets, inode numbers (hard links share one), ns
# mtimes and content equal a read-only loop mount of the same image and the tree it was
# built from; a directory too large for one readdir reply is listed whole.
. "$TOP/tests/cli/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mke2fs fusermount3 python3 sha256sum
{ exec 3<> /dev/fuse; } 2> /dev/null || skip "cannot open /dev/fuse"
exec 3>&-

# fmount IMG DIR [ARGS...]: deltair mount in the background; unmounted at exit.
fmount()
{
	local img=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	dir=$(readlink -f "$dir")
	"$DELTAIR" mount --no-progress "$@" "$img" "$dir" > out 2> err ||
		die "deltair mount $* $img $dir exited $?: $(cat err)"
	at_exit "fusermount3 -u '$dir' || umount -l '$dir'"
	mountpoint -q "$dir" || die "$dir is not a mount point after deltair mount"
}

# find's view: path, mode, owner, group, size (not of directories: the tree's are the host
# filesystem's), link target; sorted. And the content of every regular file.
listing()
{
	(cd "$1" && find . \( -path ./lost+found -prune \) -o \( -type d -printf '%p %m %U %G - %l\n' \) \
		-o -printf '%p %m %U %G %s %l\n' | sort)
}
sums()
{
	(cd "$1" && find . -path ./lost+found -prune -o -type f -print0 | sort -z | xargs -0 sha256sum)
}

fixture_tree tree
mkext4 tree img.ext4 64M
t_mount_ro img.ext4 loop
fmount img.ext4 fuse

note "find and sha256sum: mount = loop mount = tree"
listing tree > list.tree
listing loop > list.loop
listing fuse > list.fuse
# The root's own metadata is mke2fs's, not the tree's.
grep -v '^\. ' list.tree > list.tree.noroot
grep -v '^\. ' list.fuse > list.fuse.noroot
cmp -s list.loop list.fuse || fail "find over the mount differs from the loop mount: $(diff list.loop list.fuse | head -20)"
cmp -s list.tree.noroot list.fuse.noroot ||
	fail "find over the mount differs from the tree: $(diff list.tree.noroot list.fuse.noroot | head -20)"
[ "$(wc -l < list.fuse)" -gt 100 ] || fail "only $(wc -l < list.fuse) entries listed"
sums tree > sum.tree
sums loop > sum.loop
sums fuse > sum.fuse
cmp -s sum.loop sum.fuse || fail "content through the mount differs from the loop mount: $(diff sum.loop sum.fuse | head)"
cmp -s sum.tree sum.fuse || fail "content through the mount differs from the tree: $(diff sum.tree sum.fuse | head)"
[ "$(wc -l < sum.fuse)" -gt 30 ] || fail "only $(wc -l < sum.fuse) files hashed"

note "every field, inode numbers and ns times included: mount = loop mount"
oracle loop > o.loop
oracle fuse > o.fuse
compare o.loop o.fuse type mode uid gid size link sha256 inode mtime_ns ||
	fail "the mount's entries differ from the loop mount's"

note "hard links share an inode number, the image's"
i1=$(stat -c %i fuse/links/h1) i2=$(stat -c %i fuse/links/h2) i3=$(stat -c %i "fuse/names/h3 elsewhere")
[ "$i1" = "$i2" ] && [ "$i1" = "$i3" ] || fail "hard links have inodes $i1 $i2 $i3"
[ "$i1" = "$(stat -c %i loop/links/h1)" ] || fail "inode $i1, the image says $(stat -c %i loop/links/h1)"
[ "$(stat -c %h fuse/links/h1)" = 3 ] || fail "links/h1 has $(stat -c %h fuse/links/h1) links, want 3"
[ "$(stat -c %i fuse/links/h1)" != "$(stat -c %i fuse/links/abs)" ] || fail "distinct files share an inode"

note "times in nanoseconds, symlinks, special files"
for p in etc/passwd links/long special/fifo modes/sticky data/sparse; do
	want=$(stat -c '%F %a %u %g %s %X.%x %Y %y %Z %z' "loop/$p")
	got=$(stat -c '%F %a %u %g %s %X.%x %Y %y %Z %z' "fuse/$p")
	[ "$want" = "$got" ] || fail "stat $p: '$got', want '$want'"
done
[ "$(readlink fuse/links/long)" = "$(readlink tree/links/long)" ] || fail "long symlink target differs"
[ "$(cat fuse/links/rel)" = "$(cat tree/etc/passwd)" ] || fail "a relative symlink does not resolve inside the mount"

note "reads at odd offsets and sizes"
python3 - fuse/data/random.bin tree/data/random.bin << 'PYEOF' || fail "random-access reads differ"
import os, random, sys
a, b = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
size = os.path.getsize(sys.argv[2])
rnd = random.Random(7)
for _ in range(300):
    off, n = rnd.randrange(0, size + 10), rnd.choice([1, 7, 4095, 4096, 4097, 65536, 200000])
    a.seek(off); b.seek(off)
    if a.read(n) != b.read(n):
        sys.exit("differ at %d+%d" % (off, n))
PYEOF

note "a directory of 3000 names is listed whole"
mkdir -p many
for i in $(seq 1 3000); do : > "many/entry-with-a-longish-name-$i"; done
mkext4 many many.ext4 16M
fmount many.ext4 fuse2
(cd fuse2 && find . -mindepth 1 -maxdepth 1 -name 'entry-with*' -printf '%f\n' | sort) > names.fuse
(cd many && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort) > names.tree
[ "$(wc -l < names.fuse)" = 3000 ] || fail "the big directory lists $(wc -l < names.fuse) names, want 3000"
cmp -s names.tree names.fuse || fail "the big directory's names differ"

t_done
