#!/bin/bash
# t2080: a file whose extent points past the end of the disk cannot be read. It must not
# vanish from the delta: it gets its `file` event from what is known (modified when its size
# changed, metadata when not), flagged content_unread, and diff, scan and baseline exit 8
# (incomplete) with the summary saying what was not read; never 0 ("no delta") or 1.
# Oracle: debugfs (the extent really points past the filesystem's last block), sha256sum of
# the files put in.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs dumpe2fs python3 jq sha256sum

mkdir g
head -c 200000 /dev/urandom > g/first.bin
printf 'kept\n' > g/keep.txt
head -c 300000 /dev/urandom > g/last.bin
head -c 100000 /dev/urandom > g/same.bin
find g -depth -exec touch -h -d "$FIXTURE_TIME" {} +
mke2fs -q -F -b 4096 -t ext4 -d g gold.img 8M > /dev/null || die "mke2fs failed"
dt_ok baseline --no-progress -o gold.dtree gold.img
blocks=$(dumpe2fs -h gold.img 2> /dev/null | sed -n 's/^Block count: *//p')
[ -n "$blocks" ] || die "dumpe2fs gave no block count"

# Point FILE's first extent at block 9999999 of IMG; check that debugfs sees it past the end.
break_extent()
{
	debugfs -w -R "sif $2 block[5] 9999999" "$1" > /dev/null 2>&1 || die "debugfs sif $2 failed"
	debugfs -R "stat $2" "$1" 2> /dev/null | grep -q '(0-[0-9]*):9999999-' ||
		die "the extent of $2 does not start at block 9999999: $(debugfs -R "stat $2" "$1" 2>&1 | tail -3)"
	[ 9999999 -gt "$blocks" ] || die "block 9999999 is inside the filesystem ($blocks blocks)"
}

# 1. Nothing changed but one file cannot be read: before, "no delta" (exit 0).
cp gold.img same.img
break_extent same.img /same.bin
dt diff --no-progress -b gold.dtree same.img
expect_rc 8 "diff of an image with one unreadable, unchanged file"
grep -q '^deltair: diff: incomplete' err || fail "diff does not say it is incomplete: $(cat err)"
cp out same.jsonl
python3 - same.jsonl "$(sha256sum < g/same.bin | cut -c1-64)" << 'EOF' || fail "unreadable unchanged file: wrong events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
bad = 0
f = [e for e in ev if e["event"] == "file"]
if len(f) != 1 or f[0]["path"] != "/same.bin" or f[0]["change"] != "metadata" \
        or f[0]["flags"] != ["content_unread"] or f[0]["sha256"] is not None \
        or f[0]["gold"]["sha256"] != sys.argv[2] or f[0]["changed"] != []:
    print("  file events:", f); bad += 1
if [e.get("path") for e in ev if e["event"] == "error"] != ["/same.bin"]:
    print("  error events:", [e for e in ev if e["event"] == "error"]); bad += 1
s = ev[-1]
if s["event"] != "summary" or s["complete"] is not False or \
        s["unread"] != {"files": 1, "read_errors": 1} or s["counts"]["metadata"] != 1:
    print("  summary:", s); bad += 1
sys.exit(1 if bad else 0)
EOF

# 2. The file grew, and its new extent points past the end: before, not reported at all.
cp -a g i
head -c 5000 /dev/urandom >> i/last.bin
mke2fs -q -F -b 4096 -t ext4 -d i incident.img 8M > /dev/null || die "mke2fs failed"
break_extent incident.img /last.bin
dt diff --no-progress -b gold.dtree incident.img
expect_rc 8 "diff of an image whose grown file cannot be read"
cp out grown.jsonl
python3 - grown.jsonl << 'EOF' || fail "unreadable grown file: wrong events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
f = [e for e in ev if e["event"] == "file"]
if len(f) != 1 or f[0]["path"] != "/last.bin" or f[0]["change"] != "modified" \
        or f[0]["flags"] != ["content_unread"] or f[0]["size"] != 305000 \
        or f[0]["gold"]["size"] != 300000 or "size" not in f[0]["changed"] \
        or "sha256" in f[0]["changed"] or f[0]["sha256"] is not None:
    print("  file events:", f)
    sys.exit(1)
EOF

# scan: the same event, YARA could not read the file either; exit 8.
# shellcheck disable=SC2016 # YARA's $a, not the shell's
printf 'rule never_matches { strings: $a = "no such bytes anywhere 8c1f" condition: $a }\n' > r.yar
dt scan --no-progress --no-artifacts --no-rows -r r.yar -b gold.dtree incident.img
expect_rc 8 "scan of an image whose grown file cannot be read"
grep -q '^deltair: scan: incomplete' err || fail "scan does not say it is incomplete: $(cat err)"
jq -e -s '(map(select(.event == "file" and .path == "/last.bin" and
	.flags == ["content_unread"])) | length == 1) and
	(.[-1] | .event == "summary" and .complete == false and .unread.files == 1 and
	 .unread.read_errors == 1 + .yara.skipped.unreadable)' out > /dev/null ||
	fail "scan of an unreadable file: wrong events: $(grep -v '"event":"yara"' out)"

# baseline of the damaged image: the tree is written, exit 8; a diff of it exits 8 too.
dt baseline --no-progress -o incident.dtree incident.img
expect_rc 8 "baseline of an image with an unreadable file"
[ -s incident.dtree ] || fail "baseline of an image with an unreadable file wrote no tree"
grep -q "/last.bin" err || fail "baseline does not name the unreadable file: $(cat err)"
dt diff gold.dtree incident.dtree
expect_rc 8 "diff of the trees"
jq -e -s 'map(select(.event == "file" and .path == "/last.bin" and .change == "modified" and
	.flags == ["content_unread"])) | length == 1' out > /dev/null ||
	fail "diff of the trees: no content_unread event for /last.bin: $(cat out)"

# A complete run still exits 0 or 1, and says so.
dt diff --no-progress -b gold.dtree gold.img
expect_rc 0 "diff of the gold with itself"
[ "$(tail -n 1 out | jq -c '[.complete, .unread]')" = '[true,{"files":0,"read_errors":0}]' ] ||
	fail "complete run: summary $(tail -n 1 out)"
t_done
