#!/bin/bash
# t1030: NTFS. Files written through an ntfs-3g mount are all in the baseline with the right
# SHA-256 (resident and non-resident data, empty, hard link, UTF-8 and long names); NTFS
# metafiles ($MFT...) and $OrphanFiles are left out, and are in with --include-meta.
# Oracle: sha256sum of the tree copied in through ntfs-3g; the set of names put in.
. "$TOP/tests/cli/lib.sh"
need mkntfs ntfs-3g python3

mkdir -p src/Dir/Sub src/Empty
printf 'resident\n' > src/tiny
: > src/empty
printf 'hello ntfs\n' > 'src/Dir/file one.txt'
head -c 300000 /dev/urandom > src/Dir/Sub/nonresident.bin
head -c 5000000 /dev/urandom > src/Dir/Sub/five-mb.bin
printf 'utf-8\n' > 'src/café 日本.txt'
printf 'long\n' > "src/Dir/$(printf 'N%.0s' $(seq 255))"

truncate -s 64M ntfs.img
mkntfs -F -Q -q ntfs.img > /dev/null 2>&1 || die "mkntfs failed"
mkdir -p mnt
ntfs-3g ntfs.img mnt > ntfs-3g.log 2>&1 || die "ntfs-3g mount failed: $(cat ntfs-3g.log)"
at_exit "_t_umount '$PWD/mnt'"
cp -r src/. mnt/ || die "copying into the ntfs-3g mount failed"
ln mnt/tiny mnt/Dir/tiny-hardlink || die "ln on ntfs-3g failed"
ln src/tiny src/Dir/tiny-hardlink
sync
_t_umount "$PWD/mnt" || die "umount of the ntfs-3g mount failed"

oracle src p0 > want.jsonl

dt_ok baseline --no-progress -o ntfs.dtree ntfs.img
dt_ok tree export --format jsonl ntfs.dtree
cp out export.jsonl
canon_jsonl < export.jsonl > got.jsonl
# Names, types and content; NTFS has no Unix modes or owners to compare.
compare want.jsonl got.jsonl fs type sha256 || fail "the NTFS baseline differs from what was written"

dt_ok tree info ntfs.dtree
grep -q -E '^filesystem: *p0 ntfs' out || fail "tree info does not list p0 ntfs: $(cat out)"

dt_ok baseline --no-progress --include-meta -o meta.dtree ntfs.img
dt_ok tree export --format jsonl meta.dtree
cp out meta.jsonl
python3 - meta.jsonl << 'EOF' || fail "--include-meta does not add the NTFS metafiles"
import json, sys
paths = {json.loads(l)["path"] for l in open(sys.argv[1], "rb")}
want = {"/$MFT", "/$MFTMirr", "/$LogFile", "/$Bitmap", "/$Boot", "/$UpCase"}
if not want <= paths:
    print("  missing with --include-meta:", sorted(want - paths)); sys.exit(1)
EOF
# Everything of the plain baseline is in the --include-meta one, with the same content.
canon_jsonl < meta.jsonl > got-meta.jsonl
python3 - got.jsonl got-meta.jsonl << 'EOF' || fail "--include-meta lost or changed ordinary entries"
import json, sys
a = {json.loads(l)["p"]: json.loads(l)["sha256"] for l in open(sys.argv[1])}
b = {json.loads(l)["p"]: json.loads(l)["sha256"] for l in open(sys.argv[2])}
bad = [p for p in a if b.get(p, "missing") != a[p]]
if bad:
    print("  ", bad[:10]); sys.exit(1)
EOF
t_done
