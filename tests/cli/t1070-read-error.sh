#!/bin/bash
# t1070: a read error in the middle of one file (a bad block under it): an `error` event for
# that file, the run goes on, every other file is hashed right, and the unreadable file never
# gets a hash. It still gets its `file` event, flagged content_unread, and the run says it is
# incomplete: exit 8 for diff and baseline, "complete": false in the summary. The bad block is made by a small FUSE filesystem (tests/data/core/errimg.c)
# that serves the image with EIO over one block's byte range -- device-mapper's error target
# would do the same, but this kernel has no device-mapper.
# Oracle: debugfs's block map of the file; sha256sum of the tree put in.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs cc pkg-config python3 jq
pkg-config --exists fuse3 || skip "no fuse3 development files"
[ -e /dev/fuse ] || skip "no /dev/fuse"

# shellcheck disable=SC2046 # pkg-config prints several words
cc -std=c11 -D_GNU_SOURCE -O1 -o errimg "$TOP/tests/data/core/errimg.c" \
	$(pkg-config --cflags --libs fuse3) || die "building errimg failed"

mkdir t t/sub
for i in 1 2 3 4 5; do
	head -c 100000 /dev/urandom > t/good$i
done
head -c 1000000 /dev/urandom > t/sub/bad.bin
head -c 300000 /dev/urandom > t/sub/after
mke2fs -q -F -b 4096 -t ext4 -d t ext4.img 16M > /dev/null || die "mke2fs failed"
oracle t p0 > want.jsonl

# The bad block: the middle one of the file's blocks, by debugfs.
read -r -a blk < <(debugfs -R 'blocks /sub/bad.bin' ext4.img 2> /dev/null)
[ ${#blk[@]} -ge 200 ] || die "debugfs blocks /sub/bad.bin: ${blk[*]}"
b=${blk[${#blk[@]} / 2]}
for f in good1 good2 good3 good4 good5 sub/after; do
	for x in $(debugfs -R "blocks /$f" ext4.img 2> /dev/null); do
		[ "$x" != "$b" ] || die "block $b is shared with /$f"
	done
done

mkdir fuse
./errimg ext4.img $((b * 4096)) $(((b + 1) * 4096)) fuse > errimg.log 2>&1 &
pid=$!
at_exit "kill $pid; wait $pid"
at_exit "_t_umount '$PWD/fuse'"
for i in $(seq 50); do
	[ -e fuse/img ] && break
	sleep 0.1
done
[ -e fuse/img ] || die "errimg did not mount: $(cat errimg.log)"
# The oracle of the oracle: the block really fails, the blocks around it do not.
dd if=fuse/img of=/dev/null bs=4096 skip="$b" count=1 status=none 2> /dev/null &&
	die "reading block $b through errimg did not fail"
dd if=fuse/img of=/dev/null bs=4096 skip=$((b + 1)) count=1 status=none ||
	die "reading block $((b + 1)) through errimg failed"

dt_ok baseline --no-progress -o gold.dtree ext4.img

# diff against the gold: one error event and one file event (content unknown), for the file;
# the summary last, saying the run is incomplete; exit 8, never 0 ("no delta").
dt diff --baseline gold.dtree fuse/img
expect_rc 8 "diff over a bad block"
grep -q '^deltair: diff: incomplete' err || fail "diff over a bad block does not say it is incomplete: $(cat err)"
cp out events.jsonl
gold_sha=$(sha256sum < t/sub/bad.bin | cut -c1-64)
python3 - events.jsonl "$gold_sha" << 'EOF' || fail "diff over a bad block: wrong events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1], "rb")]
bad = 0
f = [e for e in ev if e.get("event") == "file" and e.get("path") == "/sub/bad.bin"]
if len(f) != 1 or f[0]["change"] != "metadata" or f[0]["flags"] != ["content_unread"] \
        or f[0]["sha256"] is not None or f[0]["gold"]["sha256"] != sys.argv[2] \
        or "sha256" in f[0]["changed"] or "size" in f[0]["changed"]:
    print("  the unreadable file's event:", f); bad += 1
errs = [e for e in ev if e.get("event") == "error"]
if [e.get("path") for e in errs] != ["/sub/bad.bin"]:
    print("  error events:", errs); bad += 1
for e in errs:
    if e.get("fs") != "p0" or not e.get("message"):
        print("  error event without fs p0 or a message:", e); bad += 1
files = [e for e in ev if e.get("event") == "file" and e.get("path") != "/sub/bad.bin"]
if files:
    print("  file events for readable, unchanged files:", files[:3]); bad += 1
if ev[-1].get("event") != "summary":
    print("  the last line is not the summary:", ev[-1]); bad += 1
elif ev[-1].get("errors") != 1 or ev[-1].get("complete") is not False or \
        ev[-1].get("unread") != {"files": 1, "read_errors": 1} or ev[-1].get("delta") != 1:
    print("  summary:", ev[-1]); bad += 1
sys.exit(1 if bad else 0)
EOF

# baseline over the bad block: the run goes on; every other file hashed right; no hash for
# the unreadable one; the tree is written and the exit status says it is incomplete.
dt baseline --no-progress -o bad.dtree fuse/img
expect_rc 8 "baseline over a bad block"
grep -q '^deltair: baseline: incomplete' err || fail "baseline over a bad block does not say it is incomplete: $(cat err)"
grep -q 'sub/bad.bin' err || fail "baseline over a bad block does not name the file on stderr: $(cat err)"
[ -s bad.dtree ] || die "baseline over a bad block wrote no tree (exit $rc)"
dt_ok tree export --format jsonl bad.dtree
canon_jsonl < out > got.jsonl
python3 - want.jsonl got.jsonl << 'EOF' > want2.jsonl
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["p"] == "L3N1Yi9iYWQuYmlu":  # /sub/bad.bin: no hash
        r["sha256"] = None
    print(json.dumps(r, sort_keys=True))
EOF
canon_drop '^/lost\+found$' < got.jsonl > got2.jsonl
compare want2.jsonl got2.jsonl type size sha256 ||
	fail "baseline over a bad block: wrong hashes (the bad file must have none)"
# The tree of the damaged read against the gold: the unread file is not silently equal.
dt diff gold.dtree bad.dtree
expect_rc 8 "diff gold.dtree bad.dtree"
jq -e -s '[.[] | select(.event == "file" and .path == "/sub/bad.bin" and
	.flags == ["content_unread"])] | length == 1' out > /dev/null ||
	fail "diff gold.dtree bad.dtree has no content_unread file event for /sub/bad.bin (exit $rc)"
t_done
