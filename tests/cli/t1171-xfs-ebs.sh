#!/bin/bash
# t1171: an XFS root read raw from every source: a GPT disk holding an XFS v5 partition (as an
# Amazon Linux 2023 or RHEL root volume is) gives the same tree from the image file, from a
# read-only block device and served as an EBS snapshot by the loopback peer (ebs://); diff
# and scan of the incident snapshot equal those of the raw incident, --changed-since reuses
# the gold's hashes and gives the same answer; `deltair mount ebs://` shows the kernel's
# listing and content.
# Oracle: the kernel (a read-only mount of the incident partition: find, sha256sum); the raw
# images read by deltair (t1150 checks them against the kernel).
. "$TOP/tests/cli/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mkfs.xfs xfs_freeze sgdisk jq python3 timeout sha256sum

G=snap-00000000000001170
I=snap-00000000000001171

t_xfs_pair gold.xfs inc.xfs
off=$(mkgpt gold.raw gold.xfs 8300) && off2=$(mkgpt inc.raw inc.xfs 8300) ||
	die "mkgpt failed"
[ "$off" = "$off2" ] || die "the partitions start at $off and $off2"
rm gold.xfs inc.xfs

cat > peer.json << EOF
{"snapshots": {"$G": {"image": "gold.raw"}, "$I": {"image": "inc.raw", "parent": "$G"}}}
EOF
aws_peer peer.json
aws_peer_env

# Every run is bounded: a hang is a failure, not a stuck suite.
run()
{
	rc=0
	timeout 120 "$DELTAIR" "$@" > out 2> err || rc=$?
	[ "$rc" -ne 124 ] || fail "deltair $* hung"
	[ "$rc" -lt 128 ] || fail "deltair $* died of signal $((rc - 128)); stderr: $(head -c 2000 err)"
	! grep -q -E '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: ' err ||
		fail "deltair $* stopped in a sanitizer; stderr: $(head -c 2000 err)"
}
export_of() { "$DELTAIR" tree export --format jsonl "$1" > "$2" || die "tree export $1"; }
files() { jq -c 'select(.event == "file" or .event == "error")' out | sort; }

# 1. baseline: file, block device and snapshot give the same tree, read raw as xfs.
run baseline --no-progress -o raw.dtree gold.raw
expect_rc 0 "baseline gold.raw" || die "no raw baseline"
grep -q -E '(^|[ ,])0 errors' err || fail "raw baseline reported errors: $(cat err)"
dt_ok tree info raw.dtree
grep -q '^filesystem: p1 xfs ' out || fail "gold.raw's p1 is not read as xfs: $(cat out)"
export_of raw.dtree raw.jsonl
[ "$(wc -l < raw.jsonl)" -gt 100 ] || fail "only $(wc -l < raw.jsonl) entries read raw"
t_loop gold.raw -r
run baseline --no-progress -o dev.dtree "$LOOP"
expect_rc 0 "baseline $LOOP"
export_of dev.dtree dev.jsonl
cmp -s raw.jsonl dev.jsonl || fail "the block device's tree differs from the file's: $(diff raw.jsonl dev.jsonl | head -5)"
run baseline --no-progress -o ebs.dtree ebs://$G
expect_rc 0 "baseline ebs://$G" || die "no ebs baseline: $(cat err)"
export_of ebs.dtree ebs.jsonl
cmp -s raw.jsonl ebs.jsonl || fail "the snapshot's tree differs from the raw image's: $(diff raw.jsonl ebs.jsonl | head -5)"
dt_ok tree info ebs.dtree
grep -q '^filesystem: p1 xfs ' out || fail "ebs://$G's p1 is not read as xfs: $(cat out)"

# 2. diff and scan of the incident snapshot: those of the raw incident.
run diff --no-progress --baseline raw.dtree inc.raw
expect_rc 1 "diff inc.raw"
files > diff-raw.jsonl
for p in /etc/passwd /data/app.log /bin/backdoor /data/b4095 /data/random-renamed.bin /etc/hostname /links/abs; do
	grep -q "\"path\":\"$p\"" diff-raw.jsonl || fail "the raw diff misses $p: $(cat diff-raw.jsonl)"
done
run diff --no-progress --baseline raw.dtree ebs://$I
expect_rc 1 "diff ebs://$I"
files > diff-ebs.jsonl
cmp -s diff-raw.jsonl diff-ebs.jsonl || fail "diff of the snapshot differs: $(diff diff-raw.jsonl diff-ebs.jsonl | head -5)"
run scan --no-progress --no-rules --no-artifacts --baseline raw.dtree inc.raw
expect_rc 1 "scan inc.raw"
files > scan-raw.jsonl
run scan --no-progress --no-rules --no-artifacts --baseline raw.dtree ebs://$I
expect_rc 1 "scan ebs://$I"
files > scan-ebs.jsonl
cmp -s scan-raw.jsonl scan-ebs.jsonl || fail "scan of the snapshot differs: $(diff scan-raw.jsonl scan-ebs.jsonl | head -5)"

# 3. --changed-since: XFS files whose blocks did not change keep the gold's hashes.
run diff --no-progress --baseline ebs.dtree --changed-since $G ebs://$I
expect_rc 1 "diff --changed-since $G ebs://$I"
files > cs.jsonl
cmp -s diff-raw.jsonl cs.jsonl || fail "--changed-since differs from the full diff: $(diff diff-raw.jsonl cs.jsonl | head -6)"
jq -e 'select(.event == "summary") | .files_reused > 0' out > /dev/null ||
	fail "--changed-since reused no gold hash: $(jq -c 'select(.event == "summary")' out)"

# 4. artifacts resolve: the same entries from the snapshot, the raw image and the kernel.
t_loop inc.raw -r -o "$off"
t_mount "$LOOP" minc ro,norecovery,nouuid
run artifacts resolve inc.raw
expect_rc 0 "artifacts resolve inc.raw"
cut -f2- out | sort > art-raw.txt
grep -q "^/etc/passwd"$'\t' art-raw.txt || fail "artifacts resolve misses /etc/passwd: $(head -5 art-raw.txt)"
run artifacts resolve ebs://$I
expect_rc 0 "artifacts resolve ebs://$I"
cut -f2- out | sort | cmp -s art-raw.txt - || fail "artifacts resolve of the snapshot differs from the raw image's"
run artifacts resolve "dir:$PWD/minc"
expect_rc 0 "artifacts resolve dir:"
cut -f2- out | sort | cmp -s art-raw.txt - || fail "artifacts resolve read raw differs from the kernel's view: $(cut -f2- out | sort | diff art-raw.txt - | head -5)"

# 5. mount ebs://: the kernel's listing and content of the incident partition.
{ exec 3<> /dev/fuse; } 2> /dev/null || {
	note "no /dev/fuse: mount not tested"
	aws_peer_clean
	t_done
}
exec 3>&-
listing() { (cd "$1" && find . -printf '%p %y %m %U %G %s %l %i %T@\n' | grep -v '^\. ' | sort); }
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
mkdir -p fuse
timeout 60 "$DELTAIR" mount --no-progress ebs://$I "$PWD/fuse" > out 2> err ||
	die "deltair mount ebs://$I failed: $(cat err)"
at_exit "fusermount3 -u '$PWD/fuse' || umount -l '$PWD/fuse'"
# One filesystem: the view is its root, or one folder per filesystem.
view=fuse
[ -d fuse/p1 ] && [ ! -e fuse/etc ] && view=fuse/p1
listing minc > list.kernel
listing "$view" > list.fuse
cmp -s list.kernel list.fuse || fail "mount ebs://'s listing differs from the kernel's: $(diff list.kernel list.fuse | head)"
sums minc > sum.kernel
sums "$view" > sum.fuse
cmp -s sum.kernel sum.fuse || fail "content through mount ebs:// differs from the kernel's: $(diff sum.kernel sum.fuse | head)"
fusermount3 -u "$PWD/fuse"

aws_peer_clean
t_done
