#!/bin/bash
# t2040: diff on NTFS. Changes made through ntfs-3g (added, deleted, modified in place,
# appended, renamed, replaced by a directory) are reported exactly; NTFS's own metafiles,
# which every write changes ($MFT, $LogFile, $Bitmap...), never appear without --include-meta.
# Oracle: the changes made; fls -rd for names left in unallocated index space.
. "$TOP/tests/cli/lib.sh"
need mkntfs ntfs-3g fls python3

truth()
{
	python3 -c '
import base64, json, sys
p = sys.argv[2].encode("utf-8", "surrogateescape")
print(json.dumps({"p": base64.b64encode(p).decode(), "change": sys.argv[1]}, sort_keys=True))' \
		"$@" >> "$TRUTH"
}
TRUTH=$PWD/truth.jsonl

ntfs_mount()
{
	mkdir -p "$2"
	ntfs-3g "$1" "$2" >> ntfs-3g.log 2>&1 || die "ntfs-3g mount of $1 failed: $(cat ntfs-3g.log)"
	at_exit "_t_umount '$PWD/$2'"
}

mkdir -p src/Windows/System32 src/Users/alice src/Logs
printf 'MZ fake driver\n' > src/Windows/System32/driver.sys
printf 'config v1\n' > src/Windows/System32/config.ini
printf 'hosts\n' > src/Windows/System32/hosts
head -c 200000 /dev/urandom > src/Users/alice/photo.jpg
printf 'secret plans\n' > src/Users/alice/plans.txt
printf 'delete me\n' > src/Users/alice/old.txt
printf 'line 1\n' > src/Logs/app.log
printf 'motd\n' > src/motd
truncate -s 64M gold.img
mkntfs -F -Q -q gold.img > /dev/null 2>&1 || die "mkntfs failed"
ntfs_mount gold.img m
cp -r src/. m/ || die "copy into ntfs failed"
_t_umount "$PWD/m"
dt_ok baseline --no-progress -o gold.dtree gold.img

cp --sparse=always gold.img incident.img
: > truth.jsonl
ntfs_mount incident.img m
(
	set -e
	cd m
	printf 'evil\n' > Windows/System32/evil.dll
	truth added /Windows/System32/evil.dll
	rm Users/alice/old.txt
	truth deleted /Users/alice/old.txt
	printf 'config v2\n' > Windows/System32/config.ini
	truth modified /Windows/System32/config.ini
	printf 'line 2\n' >> Logs/app.log
	truth appended /Logs/app.log
	mkdir Users/alice/.cache
	truth added /Users/alice/.cache
	mv Users/alice/plans.txt Users/alice/.cache/plans.txt
	truth renamed /Users/alice/.cache/plans.txt
	rm motd
	mkdir motd
	truth type /motd
	# not changes: reading, touching, rewriting a file with the same bytes
	cat Users/alice/photo.jpg > /dev/null
	touch Windows/System32/hosts
	cp Windows/System32/driver.sys "$OLDPWD/driver.saved"
	cat "$OLDPWD/driver.saved" > Windows/System32/driver.sys
)
[ $? -eq 0 ] || die "applying the changes failed"
_t_umount "$PWD/m"
fls -r -p gold.img > fls-gold.txt
fls -r -p incident.img > fls-all.txt
fls -r -p -d incident.img > fls-deleted.txt
python3 - fls-gold.txt fls-all.txt fls-deleted.txt >> truth.jsonl << 'EOF'
import base64, json, sys
def names(f, deleted):
    out = set()
    for line in open(f, "rb"):
        meta, _, name = line.rstrip(b"\n").partition(b":\t")
        if (b" * " in meta) != deleted or name.startswith(b"$") or b"/$" in name:
            continue
        out.add(b"/" + name)
    return out
for p in sorted(names(sys.argv[3], True) - names(sys.argv[1], False) - names(sys.argv[2], False)):
    print(json.dumps({"p": base64.b64encode(p).decode(), "change": "added"}, sort_keys=True))
EOF

dt diff --baseline gold.dtree incident.img
expect_rc 1 "diff --baseline gold.dtree incident.img (NTFS)"
cp out events.jsonl
canon_jsonl < events.jsonl > got.jsonl
compare truth.jsonl got.jsonl change || fail "the NTFS diff is not the ground truth"
python3 - events.jsonl << 'EOF' || fail "NTFS diff events"
import json, sys
bad = 0
for l in open(sys.argv[1], "rb"):
    e = json.loads(l)
    if e.get("event") != "file":
        continue
    if e["path"].startswith("/$") or "$OrphanFiles" in e["path"]:
        print("  metafile reported:", e["path"]); bad += 1
    if e["path"] == "/Users/alice/.cache/plans.txt" and e.get("old_path") != "/Users/alice/plans.txt":
        print("  renamed without the right old_path:", e); bad += 1
    if e["path"].startswith("/Users/alice/.cache") and "hidden" not in e.get("flags", []):
        print("  not flagged hidden:", e["path"]); bad += 1
sys.exit(1 if bad else 0)
EOF
dt_ok baseline --no-progress -o incident.dtree incident.img
dt diff gold.dtree incident.dtree
expect_rc 1 "diff gold.dtree incident.dtree (NTFS)"
canon_jsonl < out > got-trees.jsonl
sed 's/"appended"/"modified"/' truth.jsonl > truth-trees.jsonl
compare truth-trees.jsonl got-trees.jsonl change || fail "the NTFS tree diff is not the ground truth"
t_done
