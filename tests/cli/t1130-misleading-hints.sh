#!/bin/bash
# t1130: what deltair says when the evidence is not what the user thinks, instead of the XFS
# dir: hint for everything.
#   - a .dtree given where evidence is expected (baseline, scan, artifacts resolve, mount;
#     diff reads two trees):
#     exit 2, "is a deltair tree (.dtree), not evidence: use it with --baseline";
#   - --offset given in sectors (as fdisk and mmls print them) where a filesystem starts at
#     N*512 bytes: exit 2 and the offset to give (--offset N*512, in bytes);
#   - a btrfs image and a GPT disk whose only partition is btrfs: exit 3 naming btrfs, with
#     btrfs's mount options, not XFS's (norecovery,nouuid); a GPT disk with btrfs beside
#     ext4: the run goes on, with a warning and an error event naming btrfs;
#   - swap space and an LVM physical volume are named, with no dir: hint.
# Oracles: sgdisk's partition start (in sectors), mkfs.btrfs, mkswap, blkid's TYPE.
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.btrfs mkswap sgdisk blkid jq

mkdir t
echo hello > t/a
mke2fs -q -F -t ext4 -d t ext4.img 8M > /dev/null || die "mke2fs failed"
dt_ok baseline --no-progress -o gold.dtree ext4.img

# --- a .dtree where evidence is expected
for cmd in "baseline --no-progress -o x.dtree" "scan --no-progress --no-rules --no-artifacts --baseline gold.dtree" \
	"artifacts resolve"; do
	# shellcheck disable=SC2086
	dt $cmd gold.dtree
	name=${cmd%% *}
	expect_rc 2 "$name with a .dtree as evidence" && expect_err_line "$name"
	grep -q "'gold.dtree' is a deltair tree (.dtree), not evidence: use it with --baseline" err ||
		fail "$name of a .dtree: $(cat err)"
	grep -q 'dir:' err && fail "$name of a .dtree gives the dir: hint: $(cat err)"
done
[ ! -e x.dtree ] || fail "baseline of a .dtree wrote x.dtree"
mkdir m
dt mount --no-progress gold.dtree m
expect_rc 2 "mount of a .dtree"
grep -q "is a deltair tree (.dtree), not evidence: use it with --baseline" err ||
	fail "mount of a .dtree: $(cat err)"

# --- --offset in sectors
off=$(mkgpt disk.img ext4.img 8300) || die "mkgpt failed"
sector=$(sgdisk -i 1 disk.img | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
[ "$((sector * 512))" -eq "$off" ] || die "sgdisk says sector $sector, mkgpt byte $off"
dt baseline --no-progress -o x.dtree --offset "$sector" disk.img
expect_rc 2 "baseline --offset SECTORS" && expect_err_line baseline
grep -q -F "no filesystem at byte $sector, but ext4 starts at byte $off ($sector*512): --offset takes bytes, so give --offset $off" err ||
	fail "baseline --offset $sector: $(cat err)"
grep -q 'dir:' err && fail "--offset in sectors gives the dir: hint: $(cat err)"
dt_ok baseline --no-progress -o x.dtree --offset "$off" disk.img
dt diff --no-progress --baseline gold.dtree --offset "$sector" disk.img
expect_rc 2 "diff --offset SECTORS"
grep -q -F -- "give --offset $off" err || fail "diff --offset $sector: $(cat err)"
# An offset with nothing at N*512 either: no such suggestion.
dt baseline --no-progress -o y.dtree --offset 3 disk.img
expect_rc 3 "baseline --offset 3"
grep -q 'give --offset' err && fail "--offset 3 suggests an offset: $(cat err)"

# --- btrfs
truncate -s 128M btrfs.img
mkfs.btrfs -q btrfs.img > /dev/null 2>&1 || die "mkfs.btrfs failed"
[ "$(blkid -o value -s TYPE btrfs.img)" = btrfs ] || die "blkid does not see btrfs"
dt baseline --no-progress -o x2.dtree btrfs.img
expect_rc 3 "baseline of btrfs" && expect_err_line baseline
grep -q 'looks like btrfs' err || fail "btrfs is not named: $(cat err)"
grep -q 'mount -t btrfs -o ro,rescue=nologreplay' err || fail "no btrfs mount hint: $(cat err)"
grep -q -E 'XFS|nouuid|norecovery' err && fail "btrfs gets the XFS hint: $(cat err)"
mkgpt bdisk.img btrfs.img 8300 > /dev/null || die "mkgpt failed"
dt baseline --no-progress -o x2.dtree bdisk.img
expect_rc 3 "baseline of a GPT disk holding btrfs"
grep -q 'looks like btrfs' err && grep -q 'rescue=nologreplay' err ||
	fail "GPT btrfs: $(cat err)"
grep -q -E 'XFS|nouuid' err && fail "GPT btrfs gets the XFS hint: $(cat err)"
# btrfs beside ext4: a warning, and an error event saying the same.
mkgpt mixed.img ext4.img 8300 btrfs.img 8300 > /dev/null || die "mkgpt failed"
# A partition no reader knows is evidence not read: the run is incomplete (8).
dt baseline --no-progress -o mixed.dtree mixed.img
expect_rc 8 "baseline of the mixed disk"
grep -q 'warning: p2 at byte [0-9]* skipped: libtsk cannot read this filesystem (looks like btrfs)' err ||
	fail "mixed disk: no warning naming btrfs: $(cat err)"
dt diff --no-progress --baseline mixed.dtree mixed.img
expect_rc 8 "diff of the mixed disk against itself"
jq -e -s 'map(select(.event == "error" and .fs == "p2" and (.message | test("looks like btrfs.*rescue=nologreplay")))) | length == 1' \
	out > /dev/null || fail "no error event naming btrfs: $(head -c 1000 out)"
rm -f btrfs.img bdisk.img mixed.img

# --- swap and LVM: named, no dir: hint
truncate -s 8M swap.img
mkswap swap.img > /dev/null 2>&1 || die "mkswap failed"
dt baseline --no-progress -o x3.dtree swap.img
expect_rc 3 "baseline of swap space"
grep -q 'looks like swap space' err || fail "swap is not named: $(cat err)"
grep -q 'dir:' err && fail "swap gets the dir: hint: $(cat err)"
if command -v pvcreate > /dev/null; then
	truncate -s 16M lvm.img
	t_loop lvm.img
	pvcreate -q "$LOOP" > /dev/null 2>&1 || die "pvcreate failed"
	losetup -d "$LOOP"
	dt baseline --no-progress -o x4.dtree lvm.img
	expect_rc 3 "baseline of an LVM physical volume"
	grep -q 'looks like an LVM physical volume' err && grep -q 'vgchange' err ||
		fail "LVM: $(cat err)"
fi
t_done
