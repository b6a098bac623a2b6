#!/bin/bash
# t2050: with one filesystem on each side the diff compares them whatever their names; when
# their ids differ (an ext4 baseline against a FAT image) it says so on stderr and in an
# error event, naming both types and ids; an ext4 tree against the same tree read through
# dir: (the same device, so the same UUID) gets no such warning and no delta (exit 0), every
# entry compared.
# Oracle: the filesystem types mkfs made, blkid's UUIDs.
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.vfat jq blkid

mkdir -p t/a
printf 'x\n' > t/a/f
mkext4 t e.img 8M
truncate -s 40M f.img
mkfs.vfat -F 32 f.img > /dev/null || die "mkfs.vfat failed"
dt_ok baseline --no-progress -o e.dtree e.img
dt_ok baseline --no-progress -o f.dtree f.img

dt diff e.dtree f.dtree
[ "$rc" -eq 1 ] || fail "ext4 vs FAT: exit $rc, want 1"
grep -q -F "warning: the evidence's p0 (fat32, UUID $(blkid -o value -s UUID f.img)) is not the baseline's p0 (ext4, UUID $(blkid -o value -s UUID e.img))" err ||
	fail "no warning on stderr: $(cat err)"
[ "$(jq -c 'select(.event == "error") | .message' out | grep -c 'nor a clone of it')" = 1 ] ||
	fail "no error event about the pairing: $(grep '"error"' out)"

t_mount_ro e.img mnt
dt_ok baseline --no-progress -o d.dtree "dir:$PWD/mnt"
dt diff e.dtree d.dtree
expect_rc 0 "ext4 vs dir: of the same tree (paired although named p0 and p0 of types ext4, dir)"
grep -q -E 'may not be the same|nor a clone' err out && fail "ext4 vs dir: of the same tree warned: $(cat err)"
jq -e 'select(.event == "summary") | .delta == 0 and .entries_unchanged == .entries - 1' out > /dev/null ||
	fail "ext4 vs dir: of the same tree did not compare the entries: $(tail -n 1 out)"
grep -q "uuid=$(blkid -o value -s UUID e.img)" <("$DELTAIR" tree info d.dtree) ||
	fail "dir: of the mounted ext4 lacks its UUID"
t_done
