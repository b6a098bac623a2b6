#!/bin/bash
# t1010: a baseline of an ext4 image made from the tree of hard cases holds every entry with
# the right metadata and every regular file with the right SHA-256.
# Oracle: sha256sum of the source tree (what was put in); find -printf over the image mounted
# read-only by the kernel (types, modes, owners, sizes, link targets, inode numbers, mtimes).
. "$TOP/tests/cli/lib.sh"
need mke2fs python3

fixture_tree tree big
mkext4 tree ext4.img 64M
t_mount_ro ext4.img mnt
oracle tree p0 > tree.jsonl
oracle mnt p0 tree.jsonl > want.jsonl

# The image is the tree: same names, types, modes, owners and targets (the test's own sanity
# check; directory sizes differ between filesystems, and mke2fs adds lost+found).
compare tree.jsonl <(canon_drop '^/lost\+found$' < want.jsonl) type mode uid gid link ||
	die "mke2fs -d did not reproduce the fixture tree (the test is broken, not deltair)"

dt_ok baseline --no-progress -o gold.dtree ext4.img
[ -s gold.dtree ] || fail "baseline exited 0 but wrote no gold.dtree"
[ "$(wc -l < err)" -eq 1 ] || fail "baseline should print a one-line summary on stderr, got: $(cat err)"
dt_ok tree export --format jsonl gold.dtree
cp out export.jsonl

# Every line is a JSON object of the file shape.
python3 - export.jsonl << 'EOF' || fail "export lines are not all file objects with the contract's keys"
import json, sys
need = {"event", "fs", "path", "type", "size", "mode", "uid", "gid", "inode", "mtime"}
bad = 0
for n, line in enumerate(open(sys.argv[1], "rb"), 1):
    e = json.loads(line)
    miss = need - set(e)
    if e.get("event") != "file" or miss:
        print("  line %d: event %r, missing %s" % (n, e.get("event"), sorted(miss)))
        bad += 1
    elif e["type"] == "file" and not (e.get("sha256") or e.get("sparse_sha256")):
        print("  line %d: regular file %r without sha256" % (n, e["path"]))
        bad += 1
    elif e["type"] == "symlink" and "link_target" not in e and "link_target_bytes" not in e:
        print("  line %d: symlink %r without link_target" % (n, e["path"]))
        bad += 1
sys.exit(1 if bad else 0)
EOF

canon_jsonl < export.jsonl > got.jsonl
note "comparing $(wc -l < got.jsonl) exported entries with $(wc -l < want.jsonl) in the mounted image"
compare want.jsonl got.jsonl fs type mode uid gid size link sha256 inode ||
	fail "tree export differs from the image (find -printf + sha256sum)"
compare want.jsonl got.jsonl mtime_ns atime_ns ctime_ns crtime_ns ||
	fail "times differ from the mounted image's (stat, to the nanosecond)"

# The specific hard cases, spelled out (they are in the set comparison too, but a failure
# here names the case).
has()
{
	python3 - got.jsonl "$@" << 'EOF'
import base64, json, sys
rows = {base64.b64decode(json.loads(l)["p"]): json.loads(l) for l in open(sys.argv[1])}
p = sys.argv[2].encode("utf-8", "surrogateescape")
if p not in rows:
    sys.exit(1)
if len(sys.argv) > 3 and rows[p]["type"] != sys.argv[3]:
    sys.exit(2)
EOF
}
has /lost+found dir || fail "lost+found (a real directory) is missing or not a dir"
has "/names/$(printf 'bad\377\376\200name')" file || fail "the non-UTF-8 name is missing"
has "/names/new
line" file || fail "the name with a newline is missing"
p=/deep
for i in $(seq -w 1 70); do p=$p/level-$i; done
has "$p/bottom.txt" file || fail "the file 70 directories deep is missing"
has /data/big-sparse file || fail "the 5 GiB sparse file is missing"
has /special/sock socket || fail "the socket is missing or not a socket"
has /special/fifo fifo || fail "the fifo is missing"
has /special/null chardev || fail "the char device is missing"
has /special/loop200 blockdev || fail "the block device is missing"

# Hard links: all three names, same inode, same hash.
python3 - got.jsonl << 'EOF' || fail "hard links are not all present with one inode and one hash"
import base64, json, sys
rows = {base64.b64decode(json.loads(l)["p"]): json.loads(l) for l in open(sys.argv[1])}
names = [b"/links/h1", b"/links/h2", b"/names/h3 elsewhere"]
got = [rows.get(n) for n in names]
if None in got:
    print("  missing:", [n for n, r in zip(names, got) if r is None]); sys.exit(1)
if len({(r["inode"], r["sha256"]) for r in got}) != 1:
    print("  differ:", [(r["inode"], r["sha256"]) for r in got]); sys.exit(1)
EOF

# No libtsk virtual entries, no metadata files (the journal is inode 8, the resize inode 7).
python3 - export.jsonl << 'EOF' || fail "virtual or metadata entries are exported"
import json, sys
bad = [e["path"] for e in map(json.loads, open(sys.argv[1], "rb"))
       if "$OrphanFiles" in e["path"] or e["path"].startswith("/$") or e.get("inode") in (7, 8)]
if bad:
    print("  ", bad[:10]); sys.exit(1)
EOF

# The header's counts agree with the image.
dt_ok tree info gold.dtree
cp out info.txt
val()
{
	sed -n "s/^$1: *//p" info.txt | head -n 1
}
[ "$(val entries)" = "$(wc -l < want.jsonl)" ] ||
	fail "tree info entries: $(val entries), the image has $(wc -l < want.jsonl) (with its root)"
[ "$(val regular)" = "$(grep -c '"type": "file"' want.jsonl)" ] ||
	fail "tree info regular: $(val regular), want $(grep -c '"type": "file"' want.jsonl)"
[ "$(val directories)" = "$(grep -c '"type": "dir"' want.jsonl)" ] ||
	fail "tree info directories: $(val directories), want $(grep -c '"type": "dir"' want.jsonl)"
t_done
