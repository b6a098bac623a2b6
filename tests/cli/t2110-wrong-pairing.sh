#!/bin/bash
# t2110: wrong pairings are said, not silent.
#   - each filesystem's identity is in the .dtree (tree info): ext4 UUID and label, FAT volume
#     id and label, XFS UUID read through dir: (from the mounted device), as blkid shows them;
#   - diff and scan of a clone (same UUID) of the gold: no warning; of an unrelated filesystem
#     (diff -b gold.dtree unrelated.img): a warning on stderr and an error event naming both
#     UUIDs, for ext4 and FAT;
#   - diff incident.dtree gold.dtree (reversed): a warning that the baseline is newer than the
#     evidence; the right order is quiet;
#   - a tree without identity (as made before it was stored: the header re-encoded without
#     it, trailer recomputed) still loads and compares, without an identity warning.
# Oracles: blkid (UUID, LABEL), mke2fs -U/-L, mkfs.vfat -i/-n, E2FSPROGS_FAKE_TIME.
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.vfat mcopy blkid jq python3

U1=0b7a4d0e-1f2c-4c3b-9a5d-6e7f8a9b0c1d
mkdir -p t/etc
printf 'root:x:0:0::/root:/bin/bash\n' > t/etc/passwd
mke2fs -q -F -t ext4 -U "$U1" -L goldroot -d t gold.img 8M > /dev/null || die "mke2fs failed"
printf 'evil:x:0:0::/root:/bin/sh\n' >> t/etc/passwd
mke2fs -q -F -t ext4 -U "$U1" -L goldroot -d t clone.img 8M > /dev/null || die "mke2fs failed"
mke2fs -q -F -t ext4 -L other -d t unrelated.img 8M > /dev/null || die "mke2fs failed"
U2=$(blkid -o value -s UUID unrelated.img)
[ -n "$U2" ] && [ "$U2" != "$U1" ] || die "blkid: unrelated.img UUID '$U2'"

dt_ok baseline --no-progress -o gold.dtree gold.img
dt_ok tree info gold.dtree
grep -q "^filesystem: p0 ext4 .* uuid=$(blkid -o value -s UUID gold.img) label=$(blkid -o value -s LABEL gold.img)$" out ||
	fail "tree info lacks the ext4 identity: $(grep filesystem out)"

# The clone: no warning.
dt diff --no-progress -b gold.dtree clone.img
expect_rc 1 "diff of a clone"
grep -q warning err && fail "diff of a clone warns: $(cat err)"
jq -e -s 'map(select(.event == "error")) | length == 0' out > /dev/null ||
	fail "diff of a clone has error events: $(grep '"error"' out)"
# Unrelated: warned, on stderr and as an event.
for cmd in diff "scan --no-rules --no-rows --no-artifacts"; do
	# shellcheck disable=SC2086
	dt $cmd --no-progress -b gold.dtree unrelated.img
	expect_rc 1 "$cmd -b gold.dtree unrelated.img"
	grep -q -F "warning: the evidence's p0 (ext4, UUID $U2) is not the baseline's p0 (ext4, UUID $U1) nor a clone of it" err ||
		fail "$cmd of an unrelated ext4: no warning: $(cat err)"
	jq -e -s --arg u1 "$U1" --arg u2 "$U2" \
		'map(select(.event == "error" and .fs == "p0" and (.message | contains($u1) and contains($u2)))) | length == 1' \
		out > /dev/null || fail "$cmd of an unrelated ext4: no error event: $(head -c 600 out)"
done
# Two trees.
dt_ok baseline --no-progress -o unrelated.dtree unrelated.img
dt diff gold.dtree unrelated.dtree
grep -q -F "UUID $U2) is not the baseline's" err || fail "diff of two unrelated trees: $(cat err)"

# FAT: the volume id.
mkdir f
printf 'x\n' > f/a.txt
mkfat()
{
	truncate -s 40M "$1"
	mkfs.vfat -i "$2" -n "$3" "$1" > /dev/null && mcopy -i "$1" f/a.txt ::/a.txt
}
mkfat fgold.img 1234ABCD EVIDENCE || die "mkfs.vfat failed"
mkfat fclone.img 1234ABCD EVIDENCE || die "mkfs.vfat failed"
mkfat fother.img 5678EF01 OTHER || die "mkfs.vfat failed"
dt_ok baseline --no-progress -o fgold.dtree fgold.img
dt_ok tree info fgold.dtree
[ "$(blkid -o value -s UUID fgold.img)" = 1234-ABCD ] || die "blkid: FAT id $(blkid -o value -s UUID fgold.img)"
grep -q "^filesystem: p0 fat.* uuid=1234-ABCD label=EVIDENCE$" out || fail "tree info lacks the FAT identity: $(grep filesystem out)"
dt diff --no-progress -b fgold.dtree fclone.img
grep -q warning err && fail "diff of a FAT clone warns: $(cat err)"
dt diff --no-progress -b fgold.dtree fother.img
grep -q -F "UUID 5678-EF01) is not the baseline's p0 (fat16, UUID 1234-ABCD)" err ||
	fail "diff of an unrelated FAT: $(cat err)"

# ext's two magic bytes (1080) planted in the boot code of an NTFS volume and in the reserved
# sectors of a FAT32 one: each keeps its own identity, read from its boot sector by od.
plant_ext_magic() { printf '\123\357' | dd of="$1" bs=1 seek=1080 conv=notrunc status=none; }
truncate -s 16M ntfs.img
mkntfs -q -F -f ntfs.img > /dev/null 2>&1 || die "mkntfs failed"
plant_ext_magic ntfs.img
serial=$(od -An -tx8 -j72 -N8 ntfs.img | tr -d ' ' | tr a-f A-F)
dt_ok baseline --no-progress -o ntfs.dtree ntfs.img
dt_ok tree info ntfs.dtree
grep -q "^filesystem: p0 ntfs .* uuid=$serial" out ||
	fail "NTFS with ext's magic at 1080: want uuid=$serial: $(grep filesystem out)"
truncate -s 40M f32.img
mkfs.vfat -F 32 -i 2468ACE0 -n F32 f32.img > /dev/null || die "mkfs.vfat -F 32 failed"
plant_ext_magic f32.img
dt_ok baseline --no-progress -o f32.dtree f32.img
dt_ok tree info f32.dtree
grep -q "^filesystem: p0 fat32 .* uuid=2468-ACE0 label=F32$" out ||
	fail "FAT32 with ext's magic at 1080: $(grep filesystem out)"

# Reversed: the gold made in 2020 (E2FSPROGS_FAKE_TIME dates what mke2fs makes itself), the
# incident now; same UUID.
mkdir empty
E2FSPROGS_FAKE_TIME=1600000000 mke2fs -q -F -t ext4 -U "$U1" -d empty old.img 8M > /dev/null ||
	die "mke2fs failed"
dt_ok baseline --no-progress -o old.dtree old.img
dt_ok baseline --no-progress -o new.dtree clone.img
dt diff old.dtree new.dtree
expect_rc 1 "diff old.dtree new.dtree"
grep -q warning err && fail "the right order warns: $(cat err)"
dt diff new.dtree old.dtree
expect_rc 1 "diff new.dtree old.dtree"
grep -q "warning: the baseline's newest change (20[0-9-]*T[0-9:.]*Z) is later than the evidence's (2020-09-13T" err ||
	fail "reversed diff: no warning: $(cat err)"
jq -e -s 'map(select(.event == "error" and (.message | test("baseline seems newer")))) | length == 1' \
	out > /dev/null || fail "reversed diff: no error event"
dt diff --no-progress -b new.dtree old.img
grep -q "baseline seems newer than the evidence" err || fail "reversed diff of an image: $(cat err)"

# A tree made before identities were stored: re-encoded without them.
python3 - gold.dtree stripped.dtree << 'EOF' || die "re-encoding failed"
import hashlib, json, sys
d = open(sys.argv[1], "rb").read()
hlen = int.from_bytes(d[12:16], "little")
h = json.loads(d[16:16 + hlen])
for f in h["filesystems"]:
    assert f.pop("uuid") and f.pop("label")
h2 = json.dumps(h, separators=(",", ":")).encode()
body = d[:12] + len(h2).to_bytes(4, "little") + h2 + d[16 + hlen:-40] + b"DTREEEND"
open(sys.argv[2], "wb").write(body + hashlib.sha256(body).digest())
EOF
dt_ok tree info stripped.dtree
grep -q 'uuid=' out && fail "the stripped tree still has a uuid"
dt diff --no-progress -b stripped.dtree unrelated.img
expect_rc 1 "diff of a tree without identity"
grep -q 'UUID' err && fail "a tree without identity gets an identity warning: $(cat err)"

# XFS through dir: the UUID of the mounted device.
if command -v mkfs.xfs > /dev/null && [ "$(id -u)" = 0 ]; then
	U3=4c1d9e2a-7b3f-4a5e-8c6d-0e1f2a3b4c5d
	truncate -s 320M xfs.img
	mkfs.xfs -q -m uuid="$U3" -L xroot xfs.img > /dev/null 2>&1 || die "mkfs.xfs failed"
	t_loop xfs.img -r
	t_mount "$LOOP" xm ro,norecovery,nouuid xfs
	dt_ok baseline --no-progress -o xfs.dtree "dir:$PWD/xm"
	dt_ok tree info xfs.dtree
	grep -q "^filesystem: p0 dir .* uuid=$U3 label=xroot$" out ||
		fail "dir: of XFS lacks the device's identity: $(grep filesystem out)"
	rm -f xfs.img
fi
t_done
