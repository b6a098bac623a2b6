#!/bin/bash
# t2030: diff of a GPT disk with three filesystems: ext4 p1 and ext4 p2 holding the SAME tree
# (equal subtrees in different filesystems must never be confused), FAT32 p3. Changes are
# made in single partitions; every event names the right filesystem, nothing else is
# reported. --offset reads one partition of the disk as p0, for baseline and diff alike.
# Oracle: the changes made; fls -rd for names left in unallocated FAT directory entries.
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.vfat mcopy mdel sgdisk fls python3

truth()
{
	python3 -c '
import base64, json, sys
p = sys.argv[3].encode("utf-8", "surrogateescape")
print(json.dumps({"fs": sys.argv[1], "p": base64.b64encode(p).decode(), "change": sys.argv[2]},
                 sort_keys=True))' "$@" >> truth.jsonl
}

mkdir -p tree/etc tree/var/log tree/srv
printf 'root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/sh\n' > tree/etc/passwd
printf 'host\n' > tree/etc/hostname
printf 'log line\n' > tree/var/log/app.log
head -c 100000 /dev/urandom > tree/srv/blob
mkext4 tree a.img 16M
mkext4 tree b.img 16M
mkdir -p fat/Sub
printf 'hello\n' > fat/HELLO.TXT
printf 'bye\n' > 'fat/Long Name To Delete.txt'
head -c 4096 /dev/urandom > fat/Sub/cluster.bin
truncate -s 40M fat.img
mkfs.vfat -F 32 fat.img > /dev/null || die "mkfs.vfat failed"
mcopy -s -i fat.img fat/* ::/ || die "mcopy failed"

mapfile -t offs < <(mkgpt gold.img a.img 8300 b.img 8300 fat.img 0700)
[ ${#offs[@]} -eq 3 ] || die "mkgpt failed"
dt_ok baseline --no-progress -o gold.dtree gold.img
dt_ok baseline --no-progress --offset "${offs[1]}" -o gold-p2.dtree gold.img

cp --sparse=always gold.img incident.img
: > truth.jsonl
# p2: one file edited. p1: one file deleted.
t_loop incident.img -o "${offs[1]}" --sizelimit "$(stat -c %s b.img)"
t_mount "$LOOP" m2
python3 -c '
import sys
d = open(sys.argv[1], "rb").read().replace(b"user:x:1000", b"user:x:0000")
open(sys.argv[1], "wb").write(d)' m2/etc/passwd
truth p2 modified /etc/passwd
_t_umount "$PWD/m2"
t_loop incident.img -o "${offs[0]}" --sizelimit "$(stat -c %s a.img)"
t_mount "$LOOP" m1
rm m1/etc/hostname
truth p1 deleted /etc/hostname
_t_umount "$PWD/m1"
# p3 (FAT, through mtools): one file rewritten, one deleted.
head -c 4096 /dev/urandom > new-cluster.bin
mcopy -o -i "incident.img@@${offs[2]}" new-cluster.bin ::/Sub/cluster.bin || die "mcopy -o failed"
truth p3 modified /Sub/cluster.bin
mdel -i "incident.img@@${offs[2]}" '::/Long Name To Delete.txt' || die "mdel failed"
truth p3 deleted '/Long Name To Delete.txt'
# A deleted FAT entry keeps its name (its first byte replaced): names fls -rd sees there,
# absent from the gold and not allocated now, are added deleted_entry events.
fls -r -p -o $((offs[2] / 512)) gold.img > fls-gold.txt
fls -r -p -o $((offs[2] / 512)) incident.img > fls-all.txt
fls -r -p -d -o $((offs[2] / 512)) incident.img > fls-deleted.txt
python3 - fls-gold.txt fls-all.txt fls-deleted.txt >> truth.jsonl << 'EOF'
import base64, json, sys
def names(f, deleted):
    out = set()
    for line in open(f, "rb"):
        meta, _, name = line.rstrip(b"\n").partition(b":\t")
        if (b" * " in meta) != deleted or b"$" in name[:1] or b"(Volume Label" in name:
            continue
        out.add(b"/" + name)
    return out
for p in sorted(names(sys.argv[3], True) - names(sys.argv[1], False) - names(sys.argv[2], False)):
    print(json.dumps({"fs": "p3", "p": base64.b64encode(p).decode(), "change": "added"},
                     sort_keys=True))
EOF
note "fls deleted names in p3: $(cut -f2 fls-deleted.txt | grep -v -F '$OrphanFiles' | tr '\n' ' ')"

dt diff --baseline gold.dtree incident.img
expect_rc 1 "diff --baseline gold.dtree incident.img"
canon_jsonl < out > got.jsonl
compare truth.jsonl got.jsonl fs change || fail "the multi-filesystem diff is not the ground truth"
python3 - out << 'EOF' || fail "deleted_entry flags on FAT"
import json, sys
for l in open(sys.argv[1], "rb"):
    e = json.loads(l)
    if e.get("event") == "file" and e["change"] == "added" and "deleted_entry" not in e.get("flags", []):
        sys.exit("  %s: added without deleted_entry" % e["path"])
EOF
dt_ok baseline --no-progress -o incident.dtree incident.img
dt diff gold.dtree incident.dtree
expect_rc 1 "diff gold.dtree incident.dtree"
canon_jsonl < out > got-trees.jsonl
compare truth.jsonl got-trees.jsonl fs change || fail "the multi-filesystem tree diff is not the ground truth"

# One partition by --offset: p0 on both sides.
dt diff --baseline gold-p2.dtree --offset "${offs[1]}" incident.img
expect_rc 1 "diff --offset (p2)"
canon_jsonl < out > got-p2.jsonl
grep '"p2"' truth.jsonl | sed 's/"p2"/"p0"/' > truth-p2.jsonl
compare truth-p2.jsonl got-p2.jsonl fs change || fail "diff --offset of p2 is not p2's ground truth as p0"
dt diff --baseline gold-p2.dtree --offset "${offs[0]}" incident.img
expect_rc 1 "diff --offset p1 against p2's baseline (same tree, one file deleted in p1)"
canon_jsonl < out > got-p1.jsonl
python3 -c '
import base64, json
print(json.dumps({"fs": "p0", "p": base64.b64encode(b"/etc/hostname").decode(),
                  "change": "deleted"}, sort_keys=True))' > truth-p1.jsonl
compare truth-p1.jsonl got-p1.jsonl fs change || fail "p1 of the incident against p2's gold"
t_done
