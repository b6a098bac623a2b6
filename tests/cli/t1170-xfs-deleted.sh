#!/bin/bash
# t1170: what `rm` leaves on XFS, read raw. On a loop-mounted XFS (1 KiB blocks, so that an
# inode B+tree has two levels), files, a symlink and a directory are removed
# from block, leaf and node directories and from a short form one, and a file is removed
# while a process still holds it open; the filesystem is frozen and copied (a snapshot of a
# running system). Directory blocks are 4 KiB. Read raw:
# - the allocated entries are what the kernel shows after the rm (find, lstat, sha256sum);
# - each removed name of a block, leaf or node directory is a deleted name (deleted_entry)
#   with the inode number, type, owner and times the kernel showed before the rm, its ctime
#   the removal; no other deleted name is made up (short form directories keep none);
# - with --include-meta, the open file, and only it, is /$OrphanFiles/OrphanFile-INODE with
#   the inode, size and SHA-256 the kernel showed before the rm;
# - a diff against the gold taken before: the removed files are deleted, a file created and
#   removed since is an added deleted_entry;
# - an inode B+tree root that points back at itself or twice at one child: an error naming
#   the AG and what was wrong, the walk finished, the named entries unchanged.
# Oracle: the kernel: stat, find -printf and sha256sum over the mount before and after rm;
# xfs_db for the btree's height and to rewrite its root.
. "$TOP/tests/cli/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mkfs.xfs xfs_db xfs_freeze python3 sha256sum jq

truncate -s 300M a.img
mkfs.xfs -q -f -b size=1024 -n size=4096 a.img > /dev/null 2>&1 || die "mkfs.xfs failed"
t_mount a.img m loop
python3 - m << 'EOF' || die "filling the filesystem failed"
import os, sys
m = sys.argv[1]
for name, count in (("d-short", 3), ("d-block", 40), ("d-leaf", 300), ("d-node", 5000)):
    d = os.path.join(m, name)
    os.mkdir(d)
    for i in range(count):
        with open(os.path.join(d, "f-%05d" % i), "w") as f:
            f.write("%s %d\n" % (name, i))
for name in ("d-short", "d-block", "d-leaf", "d-node"):
    d = os.path.join(m, name)
    with open(os.path.join(d, "victim.txt"), "w") as f:
        f.write("removed from %s\n" % name)
    os.chown(os.path.join(d, "victim.txt"), 1234, 567)
    os.symlink("../gone/target", os.path.join(d, "victim-link"))
    os.mkdir(os.path.join(d, "victim-dir"))
with open(os.path.join(m, "d-leaf", "running.bin"), "wb") as f:
    f.write(os.urandom(300000))
EOF
touch -d '2001-02-03 04:05:06.123456789 UTC' m/d-*/victim.txt
sync
xfs_freeze -f m && cp --sparse=always a.img gold.img && xfs_freeze -u m || die "gold copy failed"

# The kernel's view before the rm: each victim's inode, type, owner and times.
stat_of()
{
	stat --printf '{"p":"/%n","inode":%i,"type":"%F","uid":%u,"gid":%g,"mtime":"%.9Y","crtime":"%.9W"}\n' "$@"
}
(cd m && stat_of d-*/victim* d-leaf/running.bin) > before.jsonl || die "stat failed"
sha_running=$(sha256sum < m/d-leaf/running.bin | cut -d' ' -f1)
ino_running=$(stat -c %i m/d-leaf/running.bin)

# A file created after the gold and removed: the diff's deleted_entry.
printf '#!/bin/sh\necho pwned\n' > m/d-block/zz-dropper.sh
sync
rm m/d-*/victim.txt m/d-*/victim-link
rmdir m/d-*/victim-dir
rm m/d-block/zz-dropper.sh
sleep 60 < m/d-leaf/running.bin &
holder=$!
at_exit "kill $holder 2> /dev/null"
for i in $(seq 50); do [ -e /proc/$holder/fd/0 ] && break; sleep 0.1; done
rm m/d-leaf/running.bin
[ -e "/proc/$holder/fd/0" ] || die "the holder has no open file"
xfs_freeze -f m && cp --sparse=always a.img snap.img && xfs_freeze -u m || die "snapshot copy failed"
kill $holder
wait $holder 2> /dev/null
_t_umount m

level=0
for ag in 0 1 2 3; do
	l=$(xfs_db -r -c "agi $ag" -c 'print level' snap.img | sed 's/.*= //')
	[ "${l:-0}" -gt "$level" ] && level=$l
done
[ "$level" -ge 2 ] || die "the inode btrees have $level level(s): the test wants 2 or more"

# 1. The allocated entries: the kernel's view after the rm.
t_mount_ro snap.img msnap xfs
# The content hashes in one process (the oracle's sha256sum per file is slow for 5,000).
python3 - msnap > hashes.jsonl << 'EOF'
import base64, hashlib, json, os, sys
root = sys.argv[1]
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        if os.path.isfile(p) and not os.path.islink(p):
            rel = os.path.relpath(p, root).encode()
            print(json.dumps({"p": base64.b64encode(b"/" + rel).decode(),
                              "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest()}))
EOF
oracle msnap p0 hashes.jsonl > want.jsonl
dt_ok baseline --no-progress -o snap.dtree snap.img
grep -q -E '(^|[ ,])0 errors' err || fail "baseline reported errors: $(head -c 1500 err)"
dt_ok tree export --format jsonl snap.dtree
cp out snap.jsonl
jq -c 'select(.deleted_entry | not)' snap.jsonl | canon_jsonl > got.jsonl
compare want.jsonl got.jsonl fs type mode uid gid size link sha256 inode mtime_ns ctime_ns crtime_ns ||
	fail "the allocated entries differ from the kernel's view after the rm"

# 2. Deleted names: the victims of every directory kept in blocks, as the kernel showed them.
jq -c 'select(.deleted_entry)' snap.jsonl > deleted.jsonl
python3 - before.jsonl deleted.jsonl << 'EOF' || fail "deleted names differ from the removed files"
import json, sys
from datetime import datetime, timezone
types = {"regular file": "file", "regular empty file": "file", "symbolic link": "symlink",
         "directory": "dir"}
def ns(s):
    sec, _, frac = s.partition(".")
    return int(sec) * 10**9 + int((frac + "000000000")[:9])
def ts(t):
    d = datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    frac = t[20:-1] if "." in t else ""
    return int(d.timestamp()) * 10**9 + int((frac + "000000000")[:9])
before = {r["p"]: r for r in map(json.loads, open(sys.argv[1]))}
got = {}
for r in map(json.loads, open(sys.argv[2])):
    if r["path"] in got:
        print("deleted name twice: %s" % r["path"])
    got[r["path"]] = r
bad = 0
removed = set(before) | {"/d-block/zz-dropper.sh"}
for p in sorted(set(got) - removed):
    print("a deleted name nobody removed: %s" % p)
    bad += 1
for p in sorted(before):
    b = before[p]
    if p.startswith("/d-short/"):
        continue  # short form: the entries are moved up, no name is left
    if p not in got:
        print("removed %s: no deleted name" % p)
        bad += 1
        continue
    g = got[p]
    want = {"inode": b["inode"], "type": types[b["type"]]}
    have = {"inode": g["inode"], "type": g["type"]}
    if p.endswith("/running.bin"):
        # Still open: its inode is in use (the orphan), so no metadata of a free inode.
        pass
    else:
        want.update(uid=b["uid"], gid=b["gid"], mtime=ns(b["mtime"]), crtime=ns(b["crtime"]))
        have.update(uid=g["uid"], gid=g["gid"], mtime=ts(g["mtime"]) if g["mtime"] else None,
                    crtime=ts(g["crtime"]) if g["crtime"] else None)
        if not g["ctime"] or ts(g["ctime"]) < ns(b["crtime"]):
            print("%s: ctime %s is not the removal" % (p, g["ctime"]))
            bad += 1
    if want != have:
        print("%s: want %s, got %s" % (p, want, have))
        bad += 1
    if g.get("sha256") is not None:
        print("%s: a deleted name with content" % p)
        bad += 1
if "/d-block/zz-dropper.sh" not in got:
    print("/d-block/zz-dropper.sh: no deleted name")
    bad += 1
sys.exit(1 if bad else 0)
EOF

# 3. --include-meta: the open file as an orphan, and nothing else.
dt_ok baseline --no-progress --include-meta -o meta.dtree snap.img
dt_ok tree export --format jsonl meta.dtree
jq -c 'select(.path | startswith("/$OrphanFiles/"))' out > orphans.jsonl
[ "$(wc -l < orphans.jsonl)" = 1 ] || fail "orphans: want only the open file, got: $(cat orphans.jsonl)"
jq -e --arg p "/\$OrphanFiles/OrphanFile-$ino_running" --arg s "$sha_running" \
	".path == \$p and .inode == $ino_running and .size == 300000 and .sha256 == \$s and .nlink == 0 and .type == \"file\"" \
	orphans.jsonl > /dev/null || fail "the orphan is not the open file ($ino_running, $sha_running): $(cat orphans.jsonl)"
dt_ok baseline --no-progress --include-meta -o gold-meta.dtree gold.img
dt_ok tree export --format jsonl gold-meta.dtree
! grep -q OrphanFiles out || fail "the gold (nothing open, nothing removed) has orphans: $(grep OrphanFiles out | head -3)"

# 4. diff against the gold: removed files are deleted, the dropper an added deleted_entry.
dt_ok baseline --no-progress -o gold.dtree gold.img
dt diff --no-progress --baseline gold.dtree -o diff.jsonl snap.img
expect_rc 1 "diff of the snapshot"
jq -r 'select(.event == "file") | [.change, .path] + (.flags // []) | join(" ")' diff.jsonl |
	sort > changes.txt
for d in d-short d-block d-leaf d-node; do
	for v in victim.txt victim-link victim-dir; do
		grep -q -x "deleted /$d/$v" changes.txt || fail "diff: /$d/$v not deleted: $(cat changes.txt)"
	done
done
grep -q -x "deleted /d-leaf/running.bin" changes.txt || fail "diff: running.bin not deleted"
grep -q -x "added /d-block/zz-dropper.sh deleted_entry" changes.txt ||
	fail "diff: the dropper is not an added deleted_entry: $(cat changes.txt)"
[ "$(wc -l < changes.txt)" = 14 ] || fail "diff: want 14 changes, got: $(cat changes.txt)"

# 5. Hostile inode B+trees (copies of the snapshot; xfs_db redoes the root block's CRC): a
# root whose second child is the root itself, or its first child again, ends that AG's
# inode listing with an error that says why; the walk finishes, the named entries as before.
ag=0
while [ "$(xfs_db -r -c "agi $ag" -c 'print level' snap.img | sed 's/.* = //')" -lt 2 ]; do
	ag=$((ag + 1))
done
ibt_root=$(xfs_db -r -c "agi $ag" -c 'print root' snap.img | sed 's/.* = //')
ibt_first=$(xfs_db -r -c "agi $ag" -c 'addr root' -c 'print ptrs[1]' snap.img | sed 's/.* = //')
[ "$(xfs_db -r -c "agi $ag" -c 'addr root' -c 'print numrecs' snap.img | sed 's/.* = //')" -ge 2 ] ||
	die "AG $ag: the inode btree root has one child"
dt_ok tree export --format jsonl meta.dtree
jq -c 'select(.path | startswith("/$OrphanFiles") | not)' out > named.jsonl
for d in "itself:$ibt_root:inode btree block $ibt_root: bad level or record count" \
	"its first child again:$ibt_first:bad inode btree record"; do
	IFS=: read -r what ptr msg <<< "$d"
	cp --sparse=always snap.img ibt.img
	xfs_db -x -c "agi $ag" -c 'addr root' -c "write ptrs[2] $ptr" ibt.img > /dev/null ||
		die "xfs_db could not rewrite the root's second pointer"
	dt baseline --no-progress --include-meta -o ibt.dtree ibt.img
	[ "$rc" -eq 8 ] || fail "root pointing at $what: exited $rc, not 8: $(head -c 1000 err)"
	grep -q -F "cannot list every allocated inode: AG $ag: $msg" err ||
		fail "root pointing at $what: no '$msg' in: $(head -c 1000 err)"
	dt_ok tree export --format jsonl ibt.dtree
	jq -c 'select(.path | startswith("/$OrphanFiles") | not)' out | cmp -s named.jsonl - ||
		fail "root pointing at $what: the named entries differ"
done

t_done
