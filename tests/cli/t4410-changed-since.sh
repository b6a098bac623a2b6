#!/bin/bash
# t4410: --changed-since snap-GOLD against the loopback EBS peer. The gold ext4 image and a
# compromised copy (changed through a mount, plus a block written behind the filesystem) are
# served as two snapshots of one lineage.
# - the diff and scan with --changed-since equal the full ones (and the raw image's), and
#   reuse the gold's hashes; ListChangedBlocks pages (empty ones included) are all read;
# - with a warm --gold-cache the blocks fetched from the incident snapshot are exactly its
#   changed blocks (the peer's counters) and none from the gold; the cache is 0700 and its
#   files 0600; a damaged cache file is refused, fetched again, and the answer is the same;
#   --gold-cache-max bounds it;
# - --gold-image: the same answer and fetches; a gold image that is not the gold snapshot
#   is refused (exit 3) before anything is trusted;
# - a snapshot of another lineage: a warning, a full read, the same answer;
# - no request the peer's botocore model rejects, no bad signature.
# Oracle: the full diff of the raw image (t2010, t4100 vouch for it); cmp of the two images
# in 512 KiB blocks for the changed blocks; the peer's counters.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs dumpe2fs jq python3 timeout

G=snap-00000000000000a0
I=snap-00000000000000a1
U=snap-00000000000000b0

mkdir gold
(
	set -e
	cd gold
	mkdir -p etc usr/lib usr/bin var/log home/user
	for i in $(seq 1 30); do head -c $((i * 20000)) /dev/urandom > usr/lib/lib$i.so; done
	head -c 4000000 /dev/urandom > usr/bin/big
	printf 'root:x:0:0:root:/root:/bin/bash\n' > etc/passwd
	printf 'data\n' > home/user/doc.txt
	for i in $(seq 1 300); do printf 'line %d\n' "$i"; done > var/log/syslog
	head -c 40000 /dev/urandom > usr/bin/plant
)
[ $? -eq 0 ] || die "building the gold tree failed"
t_gold_incident gold 64M
(
	set -e
	cd mnt
	printf 'evil\n' > etc/added.conf
	printf 'line 301\n' >> var/log/syslog
	head -c 20000 /dev/urandom > usr/lib/lib1.so
	rm home/user/doc.txt
	chmod 4755 usr/lib/lib2.so
)
[ $? -eq 0 ] || die "the compromise failed"
t_plant incident.img /usr/bin/plant
mkdir other
printf 'unrelated\n' > other/x
mkext4 other other.img 64M

# The changed blocks EBS would list, and of those the ones the incident holds (non-zero).
read -r nchanged nfetchable < <(python3 - gold.img incident.img << 'EOF'
import sys
g, i = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
c = f = 0
while True:
    a, b = g.read(524288), i.read(524288)
    if not a and not b:
        break
    if a != b:
        c += 1
        f += b.count(0) != len(b)
print(c, f)
EOF
)
note "changed blocks: $nchanged ($nfetchable non-zero in the incident) of 128"

cat > peer.json << EOF
{"page_cap": 4, "scan_window": 512,
 "snapshots": {"$G": {"image": "gold.img"}, "$I": {"image": "incident.img", "parent": "$G"},
               "$U": {"image": "other.img"}}}
EOF
aws_peer peer.json
aws_peer_env

DT_SAVE=$DELTAIR
run() { dt timeout 120 "$DT_SAVE" "$@"; [ "$rc" -ne 124 ] || fail "deltair $* hung"; }
dt() {
	rc=0
	"$@" > out 2> err || rc=$?
	[ "$rc" -lt 128 ] || fail "$* died of signal $((rc - 128)); stderr: $(head -c 2000 err)"
	if grep -q -E '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: ' err; then
		fail "$* stopped in a sanitizer; stderr: $(head -c 2000 err)"
	fi
}
files() { jq -c 'select(.event == "file")' out | sort; }
summary() { jq -c 'select(.event == "summary")' out; }
counters() { aws_peer_ctl GET /_peer/counters; }
fetched() { jq -r ".snapshots[\"$1\"].blocks // 0" <<< "$2"; }

# The baseline from the gold snapshot; the reference diff from the raw incident.
run baseline --no-progress -o gold-ebs.dtree ebs://$G
expect_rc 0 "baseline ebs://$G" || die "no baseline"
run diff --no-progress --baseline gold-ebs.dtree incident.img
expect_rc 1 "diff of the raw incident"
files > full.jsonl
grep -q '"path":"/usr/bin/plant"' full.jsonl || fail "the full diff misses the plant"

# 1. --changed-since, no gold store: the same answer, hashes reused, every page read.
aws_peer_ctl POST /_peer/faults '[{"op":"ListChangedBlocks","kind":"empty_page","count":2}]' > /dev/null
aws_peer_ctl DELETE /_peer/counters > /dev/null
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G ebs://$I
expect_rc 1 "diff --changed-since"
files > cs.jsonl
cmp -s full.jsonl cs.jsonl || fail "--changed-since differs from the full diff: $(diff full.jsonl cs.jsonl | head -6)"
s=$(summary)
jq -e ".changed_blocks.from == \"$G\" and .changed_blocks.blocks == $nchanged and .changed_blocks.pruned and .files_reused > 0" <<< "$s" > /dev/null ||
	fail "--changed-since summary: $(jq -c '{changed_blocks, files_reused}' <<< "$s")"
jq -e ".evidence.snapshot.gold.id == \"$G\" and .evidence.snapshot.gold.related" <<< "$s" > /dev/null ||
	fail "summary evidence.snapshot.gold: $(jq -c .evidence.snapshot <<< "$s")"
pages=$(counters | jq -r ".snapshots[\"$I\"].ListChangedBlocks")
[ "$pages" -ge 4 ] || fail "ListChangedBlocks called $pages times: pages not followed"
aws_peer_ctl POST /_peer/faults '[]' > /dev/null
run scan --no-progress --no-rules --no-artifacts --baseline gold-ebs.dtree --changed-since $G ebs://$I
expect_rc 1 "scan --changed-since"
files | jq -c 'del(.artifacts)' > scan.jsonl
jq -c 'del(.artifacts)' full.jsonl | sort | cmp -s - scan.jsonl || fail "scan --changed-since differs from the full diff"

# 2. A gold cache: cold (filled from the gold snapshot), then warm.
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G --gold-cache cache ebs://$I
expect_rc 1 "diff --gold-cache (cold)"
files | cmp -s full.jsonl - || fail "a cold --gold-cache changes the answer"
[ "$(stat -c %a cache)" = 700 ] && [ "$(stat -c %a cache/$G)" = 700 ] || fail "cache modes: $(stat -c '%a %n' cache cache/$G)"
n=$(find cache -type f | wc -l)
[ "$n" -gt 0 ] || fail "the cold run left nothing in the cache"
[ -z "$(find cache -type f ! -perm 0600)" ] || fail "cache files not 0600: $(find cache -type f ! -perm 0600 | head -3)"
aws_peer_ctl DELETE /_peer/counters > /dev/null
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G --gold-cache cache ebs://$I
expect_rc 1 "diff --gold-cache (warm)"
files | cmp -s full.jsonl - || fail "a warm --gold-cache changes the answer"
c=$(counters)
fi_=$(fetched $I "$c")
fg=$(fetched $G "$c")
note "warm cache: $fi_ blocks fetched from the incident ($nfetchable changed), $fg from the gold"
[ "$fi_" -eq "$nfetchable" ] || fail "warm cache: $fi_ blocks fetched from the incident, its changed blocks are $nfetchable (each once)"
[ "$fg" = 0 ] || fail "warm cache: $fg blocks fetched from the gold snapshot"
jq -e '.evidence.snapshot.gold.cache_hits > 0 and .evidence.snapshot.gold.gold_fetched == 0' <(summary) > /dev/null ||
	fail "warm cache summary: $(summary | jq -c .evidence.snapshot)"
# A damaged cache file: refused, fetched again, the same answer.
f=$(find cache/$G -type f | sort | head -1)
printf 'X' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G --gold-cache cache ebs://$I
expect_rc 1 "diff --gold-cache with a damaged cache file"
files | cmp -s full.jsonl - || fail "a damaged cache file changes the answer"
jq -e '.evidence.snapshot.gold.cache_refused == 1 and .evidence.snapshot.gold.gold_fetched == 1' <(summary) > /dev/null ||
	fail "damaged cache file: $(summary | jq -c .evidence.snapshot.gold)"
# The bound: at most one block's file and its checksum beyond it.
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G --gold-cache small --gold-cache-max 2000000 ebs://$I
expect_rc 1 "diff --gold-cache-max"
files | cmp -s full.jsonl - || fail "a small --gold-cache changes the answer"
[ "$(du -sb small | cut -f1)" -le $((2000000 + 4096 * 2)) ] || fail "the cache passed its bound: $(du -sb small)"
chmod 755 cache
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G --gold-cache cache ebs://$I
expect_rc 2 "a gold cache others can read"
chmod 700 cache
run diff --no-progress --baseline gold-ebs.dtree --gold-cache cache ebs://$I
expect_rc 2 "--gold-cache without --changed-since"

# 3. A gold image.
aws_peer_ctl DELETE /_peer/counters > /dev/null
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G --gold-image gold.img ebs://$I
expect_rc 1 "diff --gold-image"
files | cmp -s full.jsonl - || fail "--gold-image changes the answer"
c=$(counters)
[ "$(fetched $I "$c")" -le "$nfetchable" ] || fail "--gold-image: $(fetched $I "$c") blocks fetched from the incident"
cp gold.img wrong.img
python3 -c '
import sys
f = open(sys.argv[1], "r+b")
for i in range(0, 128, 2):
    f.seek(i * 524288 + 300000); f.write(b"\xa5" * 8)' wrong.img
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G --gold-image wrong.img ebs://$I
expect_rc 3 "a gold image that is not the gold snapshot"
grep -q "is not the gold snapshot" err || fail "wrong gold image: $(cat err)"
grep -q '"event":"file"' out && fail "a wrong gold image still gave file events"
run diff --no-progress --baseline gold-ebs.dtree --changed-since $G --gold-image other.img ebs://$I
expect_rc 3 "a gold image of another filesystem"
grep -q "is not the baseline's" err || fail "other gold image: $(cat err)"

# 4. Another lineage: warned, read in full, the same answer.
run diff --no-progress --baseline gold-ebs.dtree --changed-since $U ebs://$I
expect_rc 1 "diff --changed-since another lineage"
files | cmp -s full.jsonl - || fail "another lineage changes the answer"
grep -q "not of one lineage" err || fail "no warning for another lineage: $(cat err)"
jq -e '.changed_blocks == null and .files_reused == 0 and .evidence.snapshot.gold.related == false' <(summary) > /dev/null ||
	fail "another lineage summary: $(summary | jq -c '{changed_blocks, files_reused}')"
run diff --no-progress --baseline gold-ebs.dtree --changed-since snap-zz ebs://$I
expect_rc 2 "a bad --changed-since"

# 5. baseline takes the gold store too: the same tree, fetched from the changed blocks.
run baseline --no-progress -o inc-ebs.dtree --changed-since $G --gold-cache cache ebs://$I
expect_rc 0 "baseline --changed-since --gold-cache"
run baseline --no-progress -o inc-raw.dtree incident.img
"$DT_SAVE" tree export --format jsonl inc-ebs.dtree > a.jsonl
"$DT_SAVE" tree export --format jsonl inc-raw.dtree > b.jsonl
cmp -s a.jsonl b.jsonl || fail "baseline through the gold cache differs from the raw image's"

aws_peer_clean
t_done
