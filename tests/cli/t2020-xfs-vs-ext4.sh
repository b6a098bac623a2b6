#!/bin/bash
# t2020: the same tree on ext4 (read raw by libtsk) and on XFS (copied with cp -a, mounted
# ro,norecovery,nouuid, read through dir:) hashes the same: `deltair diff ext4.dtree
# xfs.dtree` reports exactly what really differs between the two filesystems, which is only
# ext4's /lost+found (mke2fs makes it; XFS has none) -- nothing below the root -- and every
# directory subtree below the root is skipped whole (equal node hashes). The two are different
# filesystems (their UUIDs differ): the one error event says so.
# Oracle: find -printf + sha256sum of the two mounted filesystems.
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.xfs jq python3 blkid

fixture_tree tree
mkext4 tree ext4.img 64M
truncate -s 320M xfs.img
mkfs.xfs -q xfs.img > /dev/null 2>&1 || die "mkfs.xfs failed"
t_loop xfs.img
XFS_DEV=$LOOP
mkdir -p xfs
mount "$XFS_DEV" xfs || die "mount xfs failed"
cp -a tree/. xfs/ || { umount xfs; die "cp -a into xfs failed"; }
umount xfs || die "umount xfs failed"
t_mount "$XFS_DEV" xfs ro,norecovery,nouuid
t_mount_ro ext4.img ext4

oracle tree p0 > tree.jsonl
oracle ext4 p0 tree.jsonl > want-ext4.jsonl
oracle xfs p0 tree.jsonl > want-xfs.jsonl

# What really differs between the two filesystems, by path, on what a node hash covers.
python3 - want-ext4.jsonl want-xfs.jsonl > want-delta.jsonl << 'EOF'
import json, sys
a = {json.loads(l)["p"]: json.loads(l) for l in open(sys.argv[1])}
b = {json.loads(l)["p"]: json.loads(l) for l in open(sys.argv[2])}
out = []
for p in set(a) | set(b):
    if p not in b:
        out.append({"p": p, "change": "deleted", "flags": []})
    elif p not in a:
        out.append({"p": p, "change": "added", "flags": []})
    else:
        x, y = a[p], b[p]
        if x["type"] != y["type"]:
            out.append({"p": p, "change": "type", "flags": []})
        elif x["sha256"] != y["sha256"]:
            out.append({"p": p, "change": "modified", "flags": []})
        elif any(x[k] != y[k] for k in ("mode", "uid", "gid", "link")):
            out.append({"p": p, "change": "metadata", "flags": []})
for r in sorted(out, key=lambda r: r["p"]):
    print(json.dumps(r, sort_keys=True))
EOF
[ "$(cat want-delta.jsonl)" = '{"change": "deleted", "flags": [], "p": "L2xvc3QrZm91bmQ="}' ] ||
	die "the two filesystems differ by more than lost+found (the test is broken): $(cat want-delta.jsonl)"

dt_ok baseline --no-progress -o ext4.dtree ext4.img
dt_ok baseline --no-progress -o xfs.dtree "dir:$PWD/xfs"
grep -q -E '(^|[ ,])0 errors' err || fail "baseline of dir:xfs reported errors: $(head -c 1500 err)"

# The dir: tree itself is right (content, modes, owners, targets; directory sizes are XFS's).
dt_ok tree export --format jsonl xfs.dtree
canon_jsonl < out > got-xfs.jsonl
compare want-xfs.jsonl got-xfs.jsonl fs type mode uid gid size link sha256 ||
	fail "the dir: baseline of the XFS mount differs from find + sha256sum"
compare want-xfs.jsonl got-xfs.jsonl inode mtime_ns atime_ns ctime_ns crtime_ns ||
	fail "the dir: baseline of the XFS mount has other inode numbers or times than stat"

dt diff ext4.dtree xfs.dtree
expect_rc 1 "diff ext4.dtree xfs.dtree (ext4 has lost+found)"
cp out delta.jsonl
canon_jsonl < delta.jsonl > got-delta.jsonl
compare want-delta.jsonl got-delta.jsonl change flags ||
	fail "diff ext4.dtree xfs.dtree reports more (or less) than lost+found"
errs=$(grep '"event":"error"' delta.jsonl | grep -v "(dir, UUID $(blkid -o value -s UUID xfs.img)) is not the baseline's p0 (ext4, UUID $(blkid -o value -s UUID ext4.img)) nor a clone of it" | head -3)
[ -z "$errs" ] || fail "error events: $errs"
[ "$(grep -c '"event":"error"' delta.jsonl)" = 1 ] || fail "no error event saying the filesystems differ"

# Equal node hashes below the root: every entry but the root and those at the root's level
# lies inside a subtree skipped whole.
top=$(python3 -c '
import base64, json, sys
print(sum(1 for l in open(sys.argv[1]) if base64.b64decode(json.loads(l)["p"]).count(b"/") == 1
          and base64.b64decode(json.loads(l)["p"]) != b"/"))' want-xfs.jsonl)
total=$(wc -l < want-xfs.jsonl)
unchanged=$(tail -n 1 delta.jsonl | jq -r '.entries_unchanged // empty')
if [ -z "$unchanged" ]; then
	fail "the summary has no entries_unchanged: $(tail -n 1 delta.jsonl)"
elif [ "$unchanged" -lt $((total - top - 1)) ]; then
	fail "entries_unchanged is $unchanged of $total: directories below the root hash differently on ext4 and XFS (want >= $((total - top - 1)))"
fi

# The other way round, and each against itself.
dt diff xfs.dtree ext4.dtree
expect_rc 1 "diff xfs.dtree ext4.dtree"
canon_jsonl < out > got-rev.jsonl
sed 's/"deleted"/"added"/' want-delta.jsonl > want-rev.jsonl
compare want-rev.jsonl got-rev.jsonl change flags || fail "diff xfs.dtree ext4.dtree: not just lost+found added"
dt diff --baseline xfs.dtree "dir:$PWD/xfs"
expect_rc 0 "diff --baseline xfs.dtree dir:xfs (itself)"
t_done
