#!/bin/bash
# t4430: the gold cache (--gold-cache) read and verified in 64 KiB pieces (format 2,
# docs/aws.md). A baseline through the gold store reads every file, so every piece that holds
# file data is used; each damage below is made in a block that did not change (served by the
# cache) inside a 4 MB file's data:
# - one byte flipped in the middle of a block (piece 4 of 8): refused, fetched again from the
#   gold snapshot, rewritten, and the tree equals the raw image's;
# - the digest of that piece flipped in the header: the same;
# - a block's file under another block's name (the header binds the index): the same;
# - a format 1 file (the block, then its SHA-256) is used, not fetched, and rewritten as 2;
#   damaged, it is refused and fetched again.
# Oracle: the baseline of the raw incident image (t2010 vouches for it); the blocks of the
# raw images (python); the peer's counters. Breaking the piece check makes the first case
# fail (a wrong hash of /usr/bin/big, nothing refused).
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs dumpe2fs jq python3 timeout

G=snap-00000000000000d0
I=snap-00000000000000d1

mkdir -p gold/usr/bin gold/etc
head -c 4000000 /dev/urandom > gold/usr/bin/big
for i in $(seq 1 20); do head -c $((i * 3000)) /dev/urandom > gold/etc/f$i; done
t_gold_incident gold 32M
printf 'changed\n' >> mnt/etc/f3
printf 'new\n' > mnt/etc/added
t_incident_done

# A block of gold.img inside /usr/bin/big's data, the same in the incident, and the next one.
bs=$(dumpe2fs -h gold.img 2> /dev/null | awk -F': *' '/^Block size/ {print $2}')
pblk=$(debugfs -R "bmap /usr/bin/big 0" gold.img 2> /dev/null)
[ -n "$bs" ] && [ "${pblk:-0}" -gt 0 ] || die "no block map of /usr/bin/big ($bs, $pblk)"
read -r k ok < <(python3 - gold.img incident.img $((pblk * bs)) << 'EOF'
import sys
B = 524288
start = int(sys.argv[3])
k = (start + B - 1) // B
g, i = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
same = True
for n in (k, k + 1):
    g.seek(n * B)
    i.seek(n * B)
    same = same and g.read(B) == i.read(B)
print(k, int(same and (k + 2) * B <= start + 4000000))
EOF
)
[ "$ok" = 1 ] || die "/usr/bin/big does not hold two whole unchanged blocks from $k"
name() { printf 'cache/%s/%016x' "$G" "$1"; }
note "damaged blocks: $k and $((k + 1)) of /usr/bin/big"

cat > peer.json << EOF
{"snapshots": {"$G": {"image": "gold.img"}, "$I": {"image": "incident.img", "parent": "$G"}}}
EOF
aws_peer peer.json
aws_peer_env

DT_SAVE=$DELTAIR
run() {
	rc=0
	timeout 120 "$DT_SAVE" "$@" > out 2> err || rc=$?
	[ "$rc" -ne 124 ] || fail "deltair $* hung"
	[ "$rc" -lt 128 ] || fail "deltair $* died of signal $((rc - 128)); stderr: $(head -c 2000 err)"
	if grep -q -E '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: ' err; then
		fail "deltair $* stopped in a sanitizer; stderr: $(head -c 2000 err)"
	fi
}
"$DT_SAVE" baseline --no-progress -o ref.dtree incident.img 2> /dev/null || die "no raw baseline"
"$DT_SAVE" tree export --format jsonl ref.dtree > ref.jsonl || die "no export"
# cached WHAT: a baseline through the gold cache; its tree must equal the raw image's and
# its summary line (stderr) is kept in "gold".
cached() {
	run baseline --no-progress -o inc.dtree --changed-since $G --gold-cache cache ebs://$I
	expect_rc 0 "baseline through the gold cache: $1" || return
	"$DT_SAVE" tree export --format jsonl inc.dtree | cmp -s ref.jsonl - ||
		fail "$1: the tree differs from the raw image's: $("$DT_SAVE" tree export --format jsonl inc.dtree | diff ref.jsonl - | head -4)"
}
# refused WHAT N: the last run refused N cache files and fetched each again from the gold.
refused() {
	grep -q "(1 fetched from $G," err && grep -q "cache files refused: $2" err ||
		fail "$1: expected $2 refused and fetched again: $(grep -i 'gold\|refused' err)"
}

cached "cold"
[ -f "$(name "$k")" ] || die "the cold run did not cache block $k"
[ "$(stat -c %s "$(name "$k")")" = $((4096 + 524288)) ] || fail "a cache file of $(stat -c %s "$(name "$k")") bytes"
head -c 8 "$(name "$k")" | od -c | grep -q 'D   T   G   O   L   D  \\n  \\0' || fail "no format 2 magic: $(head -c 8 "$(name "$k")" | od -c)"
cached "warm"
grep -q "(0 fetched from $G," err || fail "warm: fetched from the gold: $(grep gold err)"

flip() { printf "$(printf '\\%03o' $((0x$(od -An -tx1 -j "$2" -N1 "$1" | tr -d ' ') ^ 1)))" |
	dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# 1. One byte in the middle of the block: piece 4, which the baseline reads for the file.
flip "$(name "$k")" $((4096 + 262144 + 4321))
cached "a byte flipped in piece 4"
refused "a byte flipped in piece 4" 1
cached "after the refetch"
grep -q "(0 fetched from $G," err && grep -q "cache files refused: 0" err ||
	fail "the refetched block was not kept: $(grep -i 'gold\|refused' err)"

# 2. The digest of piece 4 in the header.
flip "$(name "$k")" $((88 + 4 * 32 + 5))
cached "piece 4's digest flipped"
refused "piece 4's digest flipped" 1

# 3. Block k's file as block k+1's: every byte of it is right, for another block.
cp "$(name "$k")" "$(name $((k + 1)))"
cached "a block's file under another's name"
refused "a block's file under another's name" 1

# 4. Format 1: the block and its SHA-256 is used (not fetched) and rewritten as format 2.
python3 - gold.img $k "$(name "$k")" << 'EOF'
import hashlib, sys
B = 524288
k = int(sys.argv[2])
with open(sys.argv[1], "rb") as f:
    f.seek(k * B)
    b = f.read(B)
open(sys.argv[3], "wb").write(b + hashlib.sha256(b).digest())
EOF
cached "a format 1 file"
grep -q "(0 fetched from $G," err && grep -q "cache files refused: 0" err ||
	fail "a format 1 file was not used: $(grep -i 'gold\|refused' err)"
grep -q ": 1 gold cache files of format 1 .* rewritten in format 2" err ||
	fail "the conversion of a format 1 file was not said: $(grep -i 'gold\|format' err)"
[ "$(stat -c %s "$(name "$k")")" = $((4096 + 524288)) ] || fail "a format 1 file was not rewritten: $(stat -c %s "$(name "$k")") bytes"
python3 - gold.img $k "$(name "$k")" << 'EOF'
import hashlib, sys
B = 524288
k = int(sys.argv[2])
with open(sys.argv[1], "rb") as f:
    f.seek(k * B)
    b = bytearray(f.read(B))
s = hashlib.sha256(bytes(b)).digest()
b[300000] ^= 1
open(sys.argv[3], "wb").write(bytes(b) + s)
EOF
cached "a damaged format 1 file"
refused "a damaged format 1 file" 1
! grep -q "format 1" err || fail "a damaged format 1 file said converted: $(grep 'format 1' err)"
# 5. A file of another size (truncated) is refused like a damaged one.
truncate -s 300000 "$(name "$k")"
cached "a truncated file"
refused "a truncated file" 1

aws_peer_clean
t_done
