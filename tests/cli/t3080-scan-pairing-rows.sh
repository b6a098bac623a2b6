#!/bin/bash
# t3080: scan pairs filesystems by the one rule every stage asks (htree_fs_pair): a GPT gold
# (its filesystem is p1) against the same ext4 read raw (p0), and through dir:, with one user
# appended to /etc/passwd, gives one 'appended' file event, exactly one 'users' row added
# (the new user), none removed, and exactly one 'user_groups' row added (its primary group: the
# unchanged /etc/group re-parsed because /etc/passwd changed, which pairs p1 with p0 too).
# Oracle: the passwd lines the test wrote.
. "$TOP/tests/cli/lib.sh"
need mke2fs sgdisk jq

mkdir -p gold/etc gold/root
printf 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nuser:x:1000:1000::/home/user:/bin/sh\n' > gold/etc/passwd
printf 'root:x:0:\ndaemon:x:1:\nuser:x:1000:\n' > gold/etc/group
find gold -depth -exec touch -h -d '2021-06-01 12:00:00 UTC' {} +
mke2fs -q -F -t ext4 -d gold p1.img 8M > /dev/null || die "mke2fs failed"
mkgpt gold.img p1.img 8300 > /dev/null || die "mkgpt failed"
dt_ok baseline --no-progress -o gold.dtree gold.img
dt_ok tree info gold.dtree
grep -q 'p1' out || die "the GPT baseline has no filesystem p1: $(cat out)"

cp p1.img incident.img
t_loop incident.img
t_mount "$LOOP" m
printf 'intruder:x:1001:0::/root:/bin/bash\n' >> m/etc/passwd

check_scan()
{
	local what=$1 n
	expect_rc 1 "scan of $what"
	n=$(jq -c 'select(.event == "file" and .path == "/etc/passwd") | .change' out)
	[ "$n" = '"appended"' ] || fail "$what: /etc/passwd change is '$n', want appended"
	n=$(jq -c 'select(.event == "row" and .table == "users") | [.action, .columns.username]' out)
	[ "$n" = '["added","intruder"]' ] ||
		fail "$what: users rows are $(printf '%s' "$n" | tr '\n' ' '), want one added row for intruder"
	n=$(jq -c 'select(.event == "row" and .table == "user_groups") |
		[.action, .columns.uid, .columns.gid]' out)
	[ "$n" = '["added","1001","0"]' ] ||
		fail "$what: user_groups rows are $(printf '%s' "$n" | tr '\n' ' '), want one added row (1001, 0)"
}

dt scan --no-progress --no-rules --no-artifacts -b gold.dtree "dir:$PWD/m"
check_scan "dir:"
umount m && losetup -d "$LOOP" || die "cannot unmount the incident"
dt scan --no-progress --no-rules --no-artifacts -b gold.dtree incident.img
check_scan "the raw image"
t_done
