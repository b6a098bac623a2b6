#!/bin/bash
# t2050: with one filesystem on each side the diff compares them whatever their names; when
# their types differ (an ext4 baseline against a FAT image) it says so on stderr and in an
# error event; an ext4 tree against the same tree read through dir: gets no such warning.
# Oracle: the filesystem types mkfs made.
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.vfat jq

mkdir -p t/a
printf 'x\n' > t/a/f
mkext4 t e.img 8M
truncate -s 40M f.img
mkfs.vfat -F 32 f.img > /dev/null || die "mkfs.vfat failed"
dt_ok baseline --no-progress -o e.dtree e.img
dt_ok baseline --no-progress -o f.dtree f.img

dt diff e.dtree f.dtree
[ "$rc" -eq 1 ] || fail "ext4 vs FAT: exit $rc, want 1"
grep -q 'warning: .*(p0, ext4).*(p0, fat32)' err || fail "no warning on stderr: $(cat err)"
[ "$(jq -c 'select(.event == "error") | .message' out | grep -c 'may not be the same filesystem')" = 1 ] ||
	fail "no error event about the pairing: $(grep '"error"' out)"

t_mount_ro e.img mnt
dt_ok baseline --no-progress -o d.dtree "dir:$PWD/mnt"
dt diff e.dtree d.dtree
grep -q 'may not be the same' err out && fail "ext4 vs dir: of the same tree warned: $(cat err)"
t_done
