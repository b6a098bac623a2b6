#!/bin/bash
# t1060: bad evidence. Not an image, zeros, a partition table with nothing in it, XFS v4
# (which no reader here knows; v5 is read raw, t1150): exit 3 with one stderr line saying
# what was found and, where a filesystem may be there, the dir: fallback with
# ro,norecovery,nouuid. A missing file: 4.
# A truncated ext4 image: no crash; every file whose data lies past the end gets an error
# event (and only those), the other files are still hashed right.
# Oracle: debugfs's block map of each file (which files have data past the cut).
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.xfs sgdisk debugfs python3

# bad IMAGE WHAT [REGEX...]: baseline and diff refuse IMAGE with exit 3, one stderr line
# matching every REGEX (case-insensitive), and no output file.
bad()
{
	local img=$1 what=$2 rx
	shift 2
	dt baseline --no-progress -o bad.dtree "$img"
	expect_rc 3 "baseline of $what" && expect_err_line baseline
	for rx in "$@"; do
		grep -q -i -E -- "$rx" err || fail "baseline of $what: the message does not match /$rx/: $(cat err)"
	done
	[ ! -e bad.dtree ] || fail "baseline of $what left bad.dtree"
	dt diff --baseline gold.dtree -o bad.jsonl "$img"
	expect_rc 3 "diff --baseline gold.dtree $what" && expect_err_line diff
	[ ! -e bad.jsonl ] || fail "diff of $what left bad.jsonl"
	[ -z "$(ls -A | grep -v -E '^(gold\.dtree|out|err|.*\.img|t|cut-.*)$')" ] ||
		fail "files left behind after refusing $what: $(ls -A | tr '\n' ' ')"
}

mkdir t
for i in $(seq -w 1 40); do
	head -c 200000 /dev/urandom > t/f$i
done
mke2fs -q -F -b 4096 -t ext4 -d t ext4.img 16M > /dev/null || die "mke2fs failed"
dt_ok baseline --no-progress -o gold.dtree ext4.img

# The same pseudo-random megabyte every run (it once carried ext4's magic at 1080 by chance).
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }
seeded 1060 1048576 > random.img
bad random.img "a random file" 'no (readable |recogni[sz]ed )?file ?system|filesystem.*(not|no) '
# Two magic bytes are not a superblock: random bytes with 0xEF53 at 1080 are no ext.
cp random.img magic.img
printf '\x53\xef' | dd of=magic.img bs=1 seek=1080 conv=notrunc status=none
bad magic.img "random bytes with ext's magic" 'no (readable |recogni[sz]ed )?file ?system'
grep -q -i ext err && fail "random bytes with ext's magic called ext: $(cat err)"
# A real superblock that libtsk refuses (block size 2^(10+2^31)) is still named.
cp ext4.img badsb.img
printf '\xff\xff\xff\x7f' | dd of=badsb.img bs=1 seek=1048 conv=notrunc status=none
bad badsb.img "ext4 with a damaged superblock" 'looks like ext2/3/4 \(damaged\)' 'dir:'
rm -f magic.img badsb.img
truncate -s 16M zero.img
bad zero.img "an image of zeros" 'no .*file ?system|file ?system.*not (found|recogni)'
printf 'just some text\n' > text.img
bad text.img "a text file"
truncate -s 64M gpt.img
sgdisk -o -n 1:2048:+10M -n 2:0:+10M gpt.img > /dev/null || die "sgdisk failed"
bad gpt.img "a GPT disk with empty partitions" 'no .*file ?system|file ?system.*not'
truncate -s 320M xfs.img
mkfs.xfs -q -m crc=0 xfs.img > /dev/null 2>&1 || die "mkfs.xfs -m crc=0 failed"
bad xfs.img "an XFS v4 image" 'XFS v4' 'dir:' 'ro,norecovery,nouuid'
mkgpt xfsdisk.img xfs.img 8300 > /dev/null
bad xfsdisk.img "a GPT disk holding XFS v4" 'XFS v4' 'dir:' 'ro,norecovery,nouuid'
rm -f xfs.img xfsdisk.img

dt baseline --no-progress -o bad.dtree missing.img
expect_rc 4 "baseline of a file that does not exist" && expect_err_line baseline
dt baseline --no-progress -o bad.dtree /
[ "$rc" -eq 2 ] || [ "$rc" -eq 3 ] || fail "baseline of a directory (without dir:): exit $rc, want 2 or 3"
grep -q 'dir:' err || fail "baseline of a directory does not point to dir:: $(cat err)"

# Truncated images. The files with a block at or past the cut are exactly the error events,
# and the content_unread file events; the run is incomplete (exit 8).
blocks=$(debugfs -R 'stats' ext4.img 2> /dev/null | sed -n 's/^Block size: *//p')
[ "$blocks" = 4096 ] || die "debugfs stats: block size '$blocks'"
for f in t/f*; do
	n=${f#t/}
	printf '%s %s\n' "$n" "$(debugfs -R "blocks /$n" ext4.img 2> /dev/null)"
	debugfs -R "imap /$n" ext4.img 2> /dev/null | sed -n "s/.*located at block \([0-9]*\).*/inode $n \1/p"
done > blockmap.txt
for cut in 8388608 5000000 2097152; do
	head -c "$cut" ext4.img > cut-$cut.img
	python3 - blockmap.txt "$cut" > want-errors.txt << 'EOF'
import sys
cut = int(sys.argv[2])
for line in open(sys.argv[1]):
    w = line.split()
    if w[0] == "inode":
        if (int(w[2]) + 1) * 4096 > cut:
            print("SKIP inode table of /%s is past the cut" % w[1])
        continue
    if any((int(b) + 1) * 4096 > cut for b in w[1:]):
        print("/" + w[0])
EOF
	if grep -q '^SKIP' want-errors.txt; then
		note "cut at $cut: $(grep -m1 '^SKIP' want-errors.txt): not asserting file errors"
		continue
	fi
	dt diff --baseline gold.dtree cut-$cut.img
	if [ "$rc" -ge 2 ] && [ "$rc" -ne 8 ]; then
		expect_rc 3 "diff of an ext4 image cut at $cut bytes" && expect_err_line diff
		continue
	fi
	cp out events.jsonl
	python3 - events.jsonl want-errors.txt "$cut" << 'EOF' || fail "diff of the ext4 image cut at $cut bytes: wrong events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1], "rb")]
want = {l.strip() for l in open(sys.argv[2]) if l.strip()}
got = {e.get("path") for e in ev if e.get("event") == "error"}
bad = 0
if ev[-1].get("event") != "summary":
    print("  the last event is not the summary"); bad += 1
if got != want:
    print("  error events for %s, want %s" % (sorted(got - want), sorted(want - got))); bad += 1
for e in ev:
    if e.get("event") == "error" and (e.get("fs") != "p0" or not e.get("message")):
        print("  error event without fs p0 or message:", e); bad += 1
        break
files = [e for e in ev if e.get("event") == "file"]
other = [e for e in files if e.get("path") not in want]
if other:
    print("  file events (the readable files are unchanged):", other[:3]); bad += 1
unread = [e for e in files if e.get("change") == "metadata" and e.get("flags") == ["content_unread"]]
if {e.get("path") for e in unread} != want:
    print("  content_unread events for %s, want %s" % (sorted(e.get("path") for e in unread), sorted(want))); bad += 1
if ev[-1].get("errors", len(want)) != len(want):
    print("  summary errors %r, want %d" % (ev[-1].get("errors"), len(want))); bad += 1
if ev[-1].get("complete") != (not want):
    print("  summary complete %r with %d unread files" % (ev[-1].get("complete"), len(want))); bad += 1
sys.exit(1 if bad else 0)
EOF
	if [ -s want-errors.txt ]; then
		expect_rc 8 "diff of the cut image (incomplete)"
	else
		expect_rc 0 "diff of the cut image (nothing past the cut)"
	fi
done
t_done
