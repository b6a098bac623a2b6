#!/bin/bash
# t4100: ebs://snap-... evidence. A mke2fs -d image served as an EBS snapshot by the loopback
# peer (tests/peers/aws_peer.py) reads exactly as the raw image: the same tree (tree export),
# the same diff and scan. Faults (a throttling burst, 500s, a connection dropped mid-block, a
# wrong checksum, a corrupt block, an expired block token, credentials expiring mid-run) end in
# the right data; a checksum that stays wrong is an error event for the file on that block,
# never a wrong hash. Nothing hangs; the peer saw no bad signature or request (but the
# expired credentials it was asked to refuse).
# Oracle: the raw images read by deltair (checked against sha256sum by t1010), debugfs's
# block map, the peer's own counters.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs dumpe2fs jq timeout

G=snap-0123456789abcdef0
I=snap-0123456789abcdef1

mkdir gold
for i in 1 2 3 4 5 6; do head -c $((i * 70000)) /dev/urandom > gold/f$i; done
mkdir gold/etc gold/bin
head -c 3000000 /dev/urandom > gold/bin/big
printf 'root:x:0:0:root:/root:/bin/bash\n' > gold/etc/passwd
ln -s ../bin/big gold/etc/link
truncate -s 20M gold/sparse
printf 'tail' >> gold/sparse
cp -a gold inc
printf 'evil\n' >> inc/etc/passwd
head -c 200000 /dev/urandom > inc/bin/dropper
chmod 4755 inc/bin/dropper
rm inc/f2
mkext4 gold gold.raw 64M
mkext4 inc inc.raw 64M
# More blocks than the cache holds: 2,500 small files in one directory, laid out in the order
# mke2fs read them and walked in the image's hash order, so the walk comes back to a block
# after the cache has let it go.
M=snap-0123456789abcdef2
mkdir -p many/d
head -c 80000000 /dev/urandom > blob
python3 -c 'import sys
b = open("blob", "rb").read()
o = 0
for i in range(2500):
    n = 20000 + i * 7919 % 20000
    open("many/d/f%04d" % i, "wb").write(b[o:o + n])
    o += n'
rm blob
mkext4 many many.raw 128M

cat > peer.json << EOF
{"snapshots": {"$G": {"image": "gold.raw"}, "$I": {"image": "inc.raw", "parent": "$G"},
               "$M": {"image": "many.raw"}}}
EOF
aws_peer peer.json
aws_peer_env

# Every run is bounded: a hang is a failure, not a stuck suite.
run() { dt timeout 120 "$DELTAIR" "$@"; [ "$rc" -ne 124 ] || fail "deltair $* hung"; }
DT_SAVE=$DELTAIR
dt() {
	rc=0
	"$@" > out 2> err || rc=$?
	[ "$rc" -lt 128 ] || fail "$* died of signal $((rc - 128)); stderr: $(head -c 2000 err)"
	! grep -qF -e "$AWS_SECRET_ACCESS_KEY" out err || fail "$*: the secret key is in its output"
}
export_of() { "$DT_SAVE" tree export --format jsonl "$1" > "$2" || die "tree export $1"; }
# The image's 512 KiB blocks that are not all zeros: those the peer lists and may serve.
nonzero() {
	python3 -c 'import sys
f = open(sys.argv[1], "rb")
print(sum(1 for b in iter(lambda: f.read(524288), b"") if b.count(0) != len(b)))' "$1"
}

# 1. baseline: the same tree from the snapshot as from the raw image.
run baseline --no-progress -o raw.dtree gold.raw
expect_rc 0 "baseline gold.raw" || die "no raw baseline"
export_of raw.dtree raw.jsonl
run baseline --no-progress -o ebs.dtree ebs://$G
expect_rc 0 "baseline ebs://$G" || die "no ebs baseline: $(cat err)"
export_of ebs.dtree ebs.jsonl
cmp -s raw.jsonl ebs.jsonl || fail "the snapshot's tree differs from the raw image's: $(diff raw.jsonl ebs.jsonl | head -5)"
grep -q "snapshot $G (us-east-1, 1073741824 bytes" err || fail "baseline does not name the snapshot: $(cat err)"
c=$(aws_peer_ctl GET /_peer/counters)
n=$(jq -r ".snapshots[\"$G\"].blocks" <<< "$c")
listed=$(jq -r ".snapshots[\"$G\"].ListSnapshotBlocks" <<< "$c")
[ "$n" -gt 0 ] && [ "$n" -le 128 ] || fail "blocks fetched: $n (a 64 MiB image has 128)"
# No block is fetched twice (read-ahead threads and the reader racing for one block): the
# cache (64 blocks at least) holds every block the peer serves, the image's non-zero ones.
nz=$(nonzero gold.raw)
[ "$nz" -le 64 ] || die "gold.raw has $nz non-zero blocks: more than the cache holds"
[ "$n" -le "$nz" ] || fail "$n blocks fetched of $nz non-zero ones: a block was fetched twice"
[ "$listed" -ge 1 ] || fail "ListSnapshotBlocks not called"
# Nor when the cache cannot hold them all: a block the walk comes back to is read from the
# spill file, not fetched again.
run baseline --no-progress -o many-raw.dtree many.raw
expect_rc 0 "baseline many.raw" || die "no raw baseline of many.raw"
export_of many-raw.dtree many-raw.jsonl
run baseline --no-progress -o many.dtree ebs://$M
expect_rc 0 "baseline ebs://$M" || die "no ebs baseline of many.raw: $(cat err)"
export_of many.dtree many.jsonl
cmp -s many-raw.jsonl many.jsonl || fail "ebs://$M's tree differs from the raw image's"
nz=$(nonzero many.raw)
[ "$nz" -gt 64 ] || die "many.raw has $nz non-zero blocks: the cache holds them all"
n=$(aws_peer_ctl GET /_peer/counters | jq -r ".snapshots[\"$M\"].blocks")
[ "$n" -le "$nz" ] || fail "$n blocks fetched of $nz non-zero ones: a block was fetched twice"

# The region in the spec.
run baseline --no-progress -o ebs2.dtree ebs://us-east-1/$G
expect_rc 0 "baseline ebs://us-east-1/$G"
export_of ebs2.dtree ebs2.jsonl
cmp -s raw.jsonl ebs2.jsonl || fail "ebs://us-east-1/$G differs from the raw image"
run baseline --no-progress -o bad.dtree ebs://snap-xyz
expect_rc 2 "a bad snapshot id"
grep -q "ebs://snap-ID" err || fail "bad spec message: $(cat err)"

# 2. diff and scan: equal to the raw image's, and the summary names the snapshot.
run diff --no-progress --baseline raw.dtree inc.raw
expect_rc 1 "diff inc.raw"
grep -v '"event":"summary"' out | sort > diff-raw.jsonl
run diff --no-progress --baseline raw.dtree ebs://$I
expect_rc 1 "diff ebs://$I"
grep -v '"event":"summary"' out | sort > diff-ebs.jsonl
[ -s diff-raw.jsonl ] || fail "no delta from the raw incident"
cmp -s diff-raw.jsonl diff-ebs.jsonl || fail "diff of the snapshot differs: $(diff diff-raw.jsonl diff-ebs.jsonl | head -5)"
s=$(grep '"event":"summary"' out)
[ "$(jq -r .evidence.snapshot.id <<< "$s")" = "$I" ] || fail "summary evidence: $s"
[ "$(jq -r .evidence.snapshot.region <<< "$s")" = us-east-1 ] || fail "summary region: $s"
[ "$(jq -r .evidence.snapshot.volume_size <<< "$s")" = 1073741824 ] || fail "summary size: $s"
bf=$(jq -r .evidence.snapshot.blocks_fetched <<< "$s")
[ "$bf" -gt 0 ] && [ "$(jq -r .evidence.snapshot.bytes_fetched <<< "$s")" = $((bf * 524288)) ] ||
	fail "summary counts: $s"

run scan --no-progress --baseline raw.dtree inc.raw
expect_rc 1 "scan inc.raw"
grep -v '"event":"summary"' out | sort > scan-raw.jsonl
run scan --no-progress --baseline raw.dtree ebs://$I
expect_rc 1 "scan ebs://$I"
grep -v '"event":"summary"' out | sort > scan-ebs.jsonl
cmp -s scan-raw.jsonl scan-ebs.jsonl || fail "scan of the snapshot differs: $(diff scan-raw.jsonl scan-ebs.jsonl | head -5)"
grep -q "\"id\":\"$I\"" <<< "$(grep '"event":"summary"' out)" || fail "scan summary lacks the snapshot"

# 3. Faults that retries absorb: the right tree each time. Data faults hit eb, a block of
# /bin/big's data (debugfs), so wrong data would change its hash.
read -r -a blk < <(debugfs -R 'blocks /bin/big' gold.raw 2> /dev/null)
[ ${#blk[@]} -ge 100 ] || die "debugfs blocks /bin/big: ${blk[*]}"
bs=$(dumpe2fs -h gold.raw 2> /dev/null | sed -n 's/^Block size: *//p')
[ -n "$bs" ] || die "dumpe2fs: no block size"
eb=$((blk[${#blk[@]} / 2] * bs / 524288))
for f in '{"op":"GetSnapshotBlock","kind":"throttle","count":8}' \
	'{"op":"GetSnapshotBlock","kind":"throttle","status":503,"count":4}' \
	'{"op":"GetSnapshotBlock","kind":"error500","count":3}' \
	'{"op":"ListSnapshotBlocks","kind":"error500","count":2}' \
	'{"op":"ListSnapshotBlocks","kind":"empty_page","count":3}' \
	'{"op":"GetSnapshotBlock","kind":"drop","count":2}' \
	"{\"op\":\"GetSnapshotBlock\",\"kind\":\"drop\",\"block\":$eb,\"count\":2}" \
	"{\"op\":\"GetSnapshotBlock\",\"kind\":\"bad_checksum\",\"block\":$eb,\"count\":2}" \
	"{\"op\":\"GetSnapshotBlock\",\"kind\":\"corrupt\",\"block\":$eb,\"count\":2}" \
	'{"op":"GetSnapshotBlock","kind":"expired_token","count":3}'; do
	aws_peer_ctl POST /_peer/faults "[$f]" > /dev/null || die "cannot set fault $f"
	run baseline --no-progress --ebs-concurrency 4 -o f.dtree ebs://$G
	expect_rc 0 "baseline under $f" || continue
	export_of f.dtree f.jsonl
	cmp -s raw.jsonl f.jsonl || fail "under $f the tree differs: $(diff raw.jsonl f.jsonl | head -3)"
done
aws_peer_ctl POST /_peer/faults '[]' > /dev/null

# 4. A checksum that stays wrong on block eb of /bin/big: an error event for that file, no
# hash for it, every other file right.
aws_peer_ctl POST /_peer/faults "[{\"op\":\"GetSnapshotBlock\",\"kind\":\"bad_checksum\",\"block\":$eb,\"count\":0}]" > /dev/null
run diff --no-progress --baseline raw.dtree ebs://$G
aws_peer_ctl POST /_peer/faults '[]' > /dev/null
expect_rc 8 "diff with one unreadable file (incomplete)"
grep -q "incomplete: 1 read error" err || fail "diff does not say it is incomplete: $(cat err)"
jq -e -s "map(select(.event == \"error\" and .path == \"/bin/big\" and (.message | test(\"checksum mismatch\")))) | length == 1" out > /dev/null ||
	fail "no checksum error event for /bin/big: $(grep -v summary out | head -3)"
jq -e -s 'map(select(.event == "file" and .path == "/bin/big" and (.sha256 != null or (.flags | index("content_unread")) == null))) | length == 0' out > /dev/null ||
	fail "/bin/big got a hash or no content_unread flag (wrong data used?): $(grep bin/big out)"
jq -e -s 'map(select(.event == "file" and .path != "/bin/big")) | length == 0' out > /dev/null ||
	fail "changes reported from unchanged evidence: $(grep '"event":"file"' out | head -3)"
s=$(grep '"event":"summary"' out)
[ "$(jq -r .evidence.snapshot.checksum_errors <<< "$s")" -ge 3 ] || fail "checksum errors not counted: $s"
[ "$(jq -r .errors <<< "$s")" -ge 1 ] || fail "summary counts no error: $s"

# 5. --ebs-rate: no second over the limit, even the first (the image has more than 5 blocks).
# Retries count: with 500s answering the first requests, no second holds more than 5
# GetSnapshotBlock requests, failed ones included (the peer's log of every request).
aws_peer_ctl DELETE /_peer/counters > /dev/null
aws_peer_ctl POST /_peer/faults '[{"op":"GetSnapshotBlock","kind":"error500","count":12}]' > /dev/null
: > .aws-peer.log
run baseline --no-progress --ebs-rate 5 -o r.dtree ebs://$G
aws_peer_ctl POST /_peer/faults '[]' > /dev/null
expect_rc 0 "baseline --ebs-rate 5"
c=$(aws_peer_ctl GET /_peer/counters)
peak=$(jq -r ".snapshots[\"$G\"].peak_per_second" <<< "$c")
n=$(jq -r ".snapshots[\"$G\"].blocks" <<< "$c")
[ "$n" -gt 5 ] || fail "--ebs-rate 5: only $n blocks fetched, the limit is not exercised"
[ "$n" -le "$nz" ] || fail "--ebs-rate 5: $n blocks fetched of $nz non-zero ones: one fetched twice"
[ "$peak" -le 5 ] || fail "--ebs-rate 5: $peak GetSnapshotBlock in one second"
sent=$(jq -s '[.[] | select(.operation == "GetSnapshotBlock") | .time] | sort' .aws-peer.log)
[ "$(jq '[.[] | select(. != null)] | length' <<< "$sent")" -gt "$n" ] ||
	fail "--ebs-rate 5: the injected 500s were not retried: $(jq length <<< "$sent") requests"
peak=$(jq '. as $t | [range(length) as $i | [$t[] | select(. >= $t[$i] and . <= $t[$i] + 1)] | length] | max' <<< "$sent")
[ "$peak" -le 5 ] || fail "--ebs-rate 5: $peak GetSnapshotBlock requests (retries included) in one second"
run baseline --no-progress --ebs-rate 0 -o r.dtree ebs://$G
expect_rc 2 "--ebs-rate 0"
for c in 0 257; do
	run baseline --no-progress --ebs-concurrency $c -o r.dtree ebs://$G
	expect_rc 2 "--ebs-concurrency $c"
	grep -q "from 1 to 256" err || fail "--ebs-concurrency $c: $(cat err)"
done

# 5a. A wrong secret: refused with the service's error, the secret in no message.
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGKEY run baseline --no-progress -o w.dtree ebs://$G
expect_rc 7 "baseline with a wrong secret (network or service)"
grep -q "ListSnapshotBlocks: HTTP 403 InvalidSignatureException" err || fail "wrong secret: $(cat err)"
[ ! -e w.dtree ] || fail "a baseline was written without evidence read"
v=$(aws_peer_ctl GET /_peer/violations)
jq -e 'length >= 1 and all(.[]; .kind == "auth")' <<< "$v" > /dev/null || fail "wrong secret: violations $v"
aws_peer_ctl DELETE /_peer/violations > /dev/null

# 5b. Credentials that expire mid-run: instance-role keys from the peer's IMDS, expired by the
# peer at the fourth block read (a fault, so no race with the run); the ExpiredTokenException
# looks them up again (a new IMDS mint) and the tree is still the raw image's.
(
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	export AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT=$AWS_PEER_URL
	aws_peer_ctl DELETE /_peer/counters > /dev/null
	aws_peer_ctl POST /_peer/faults \
		'[{"op":"GetSnapshotBlock","kind":"expire_credentials","skip":3,"count":1}]' > /dev/null
	timeout 120 "$DELTAIR" baseline --no-progress -o x.dtree ebs://$G > xout 2> xerr || exit 2
	aws_peer_ctl POST /_peer/faults '[]' > /dev/null
	export_of x.dtree x.jsonl
	cmp -s raw.jsonl x.jsonl || exit 3
	c=$(aws_peer_ctl GET /_peer/counters)
	[ "$(jq -r .imds_credentials <<< "$c")" -ge 2 ] || exit 4
	[ "$(jq -r ".snapshots[\"$G\"].blocks" <<< "$c")" -gt 3 ] || exit 5
) || fail "credentials expiring mid-run (step $?): $(head -c 1000 xerr)"
# Each expired request is a violation at the peer: only those, and at least one (the path ran).
v=$(aws_peer_ctl GET /_peer/violations)
jq -e 'length >= 1 and all(.[]; .kind == "auth" and (.detail | test("expired")))' <<< "$v" > /dev/null ||
	fail "credentials expiring mid-run: violations $v"
aws_peer_ctl DELETE /_peer/violations > /dev/null

# 6. mount: the content through the FUSE view of the snapshot is the tree put in.
if [ -e /dev/fuse ] && command -v fusermount3 > /dev/null; then
	mkdir -p mnt
	m=$(readlink -f mnt)
	timeout 60 "$DELTAIR" mount --no-progress ebs://$I "$m" > out 2> err ||
		die "deltair mount ebs://$I: $(cat err)"
	at_exit "fusermount3 -u '$m' || umount -l '$m'"
	(cd inc && find . -type f | sort | xargs sha256sum) > sum.tree
	(cd mnt && timeout 60 sha256sum $(cd "$OLDPWD/inc" && find . -type f | sort)) > sum.mnt ||
		fail "reading the mounted snapshot failed"
	cmp -s sum.tree sum.mnt || fail "content through the mount differs: $(diff sum.tree sum.mnt | head -5)"
	fusermount3 -u "$m" || fail "cannot unmount the snapshot's view"
fi

aws_peer_clean
t_done
