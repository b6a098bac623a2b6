#!/bin/bash
# t2070: diff, scan and mount on XFS read raw. An incident copy of an XFS gold image, changed
# through a loop mount (modified, appended, added setuid, deleted, renamed, chmod, retyped),
# diffs raw against the raw gold baseline exactly as the same two filesystems diff through
# kernel mounts (dir:); scan reports the same file events; `deltair mount` of the image and
# `mount --delta` show what the kernel shows. The raw tree carries the UUID blkid shows (as dir:
# does), so a diff against an unrelated XFS warns and one of a clone does not.
# Oracle: the kernel: dir: over read-only mounts; find + sha256sum over a loop mount.
. "$TOP/tests/cli/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mkfs.xfs xfs_freeze python3 fusermount3 sha256sum blkid

t_xfs_pair gold.img incident.img

# The raw way.
dt_ok baseline --no-progress -o gold.dtree gold.img
grep -q -E '(^|[ ,])0 errors' err || fail "raw baseline reported errors: $(cat err)"
dt diff --no-progress --baseline gold.dtree -o raw.jsonl incident.img
expect_rc 1 "raw diff of the incident"
grep -q warning err && fail "raw diff of a clone warns: $(cat err)"

# XFS read raw carries its identity as blkid shows it, so an unrelated XFS is said.
U1=$(blkid -o value -s UUID gold.img)
[ -n "$U1" ] || die "blkid: no UUID for gold.img"
dt_ok tree info gold.dtree
grep -q "^filesystem: p0 xfs .* uuid=$U1\( \|$\)" out ||
	fail "tree info lacks the raw XFS UUID $U1: $(grep filesystem out)"
truncate -s 320M unrelated.img
mkfs.xfs -q -f unrelated.img > /dev/null 2>&1 || die "mkfs.xfs failed"
U2=$(blkid -o value -s UUID unrelated.img)
dt diff --no-progress --baseline gold.dtree -o unrelated.jsonl unrelated.img
grep -q -F "warning: the evidence's p0 (xfs, UUID $U2) is not the baseline's p0 (xfs, UUID $U1) nor a clone of it" err ||
	fail "raw diff of an unrelated XFS: no warning: $(cat err)"

# The kernel's way: the same two filesystems through dir:.
t_mount_ro gold.img mgold xfs
t_mount_ro incident.img minc xfs
dt_ok baseline --no-progress -o gold-dir.dtree "dir:$PWD/mgold"
dt_ok tree info gold-dir.dtree
grep -q "^filesystem: p0 dir .* uuid=$U1\( \|$\)" out ||
	fail "tree info lacks the dir: XFS UUID $U1: $(grep filesystem out)"
dt diff --no-progress --baseline gold-dir.dtree -o dir.jsonl "dir:$PWD/minc"
expect_rc 1 "dir: diff of the incident"

events()
{
	python3 - "$1" << 'EOF'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "file":
        print(e["change"], e["path"], e.get("old_path", ""), ",".join(sorted(e.get("flags", []))),
              e.get("sha256"), e.get("mode"))
    elif e["event"] == "error":
        print("error", e.get("path"), e["message"])
EOF
}
events raw.jsonl | sort > raw.txt
events dir.jsonl | sort > dir.txt
cmp -s dir.txt raw.txt || fail "raw XFS diff differs from the dir: diff: $(diff dir.txt raw.txt)"
for want in 'modified /etc/passwd' 'appended /data/app.log' 'added /bin/backdoor' \
	'deleted /data/b4095' 'renamed /data/random-renamed.bin /data/random.bin' \
	'metadata /etc/hostname' 'type /links/abs'; do
	grep -q -F "$want " raw.txt || fail "raw diff lacks '$want': $(cat raw.txt)"
done
grep -F 'added /bin/backdoor' raw.txt | grep -q suid_added || fail "backdoor without suid_added"

# scan: the same file events.
dt scan --no-progress --baseline gold.dtree -o scan.jsonl incident.img
expect_rc 1 "scan of the incident"
events scan.jsonl | grep -v '^error' | sort > scan.txt
grep -v '^error' raw.txt > raw-files.txt
cmp -s raw-files.txt scan.txt || fail "scan's file events differ from diff's: $(diff raw-files.txt scan.txt)"

# mount: the image's view equals the kernel's, content included.
{ exec 3<> /dev/fuse; } 2> /dev/null || {
	note "no /dev/fuse: mount not tested"
	t_done
}
exec 3>&-
listing()
{
	(cd "$1" && find . -printf '%p %y %m %U %G %s %l %i %T@\n' | sort)
}
sums()
{
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
mkdir -p fuse
"$DELTAIR" mount --no-progress incident.img "$PWD/fuse" > out 2> err || die "deltair mount failed: $(cat err)"
at_exit "fusermount3 -u '$PWD/fuse' || umount -l '$PWD/fuse'"
listing minc | grep -v '^\. ' > list.kernel
listing fuse | grep -v '^\. ' > list.fuse
cmp -s list.kernel list.fuse || fail "mount's listing differs from the kernel's: $(diff list.kernel list.fuse | head)"
sums minc > sum.kernel
sums fuse > sum.fuse
cmp -s sum.kernel sum.fuse || fail "content through mount differs from the kernel's: $(diff sum.kernel sum.fuse | head)"
fusermount3 -u "$PWD/fuse"

# mount --delta: what changed, with the same content.
mkdir -p delta
"$DELTAIR" mount --no-progress --baseline gold.dtree --delta incident.img "$PWD/delta" > out 2> err ||
	die "deltair mount --delta failed: $(cat err)"
at_exit "fusermount3 -u '$PWD/delta' || umount -l '$PWD/delta'"
for f in etc/passwd data/app.log bin/backdoor data/random-renamed.bin; do
	cmp -s "minc/$f" "delta/$f" || fail "mount --delta: $f differs from the kernel's"
done
[ ! -e delta/data/b4096 ] || fail "mount --delta shows an unchanged file"
fusermount3 -u "$PWD/delta"

t_done
