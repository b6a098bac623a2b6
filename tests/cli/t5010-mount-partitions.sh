#!/bin/bash
# t5010-mount-partitions: a GPT disk with two ext4 partitions shows as top-level p1/ and
# p2/ folders, each equal to a kernel loop mount of its partition, with inode numbers that
# do not collide across them; --fs p2 and --offset show one filesystem at the root; a delta
# view of the disk shows only the partition that changed.
. "$TOP/tests/cli/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mke2fs sgdisk fusermount3 sha256sum
{ exec 3<> /dev/fuse; } 2> /dev/null || skip "cannot open /dev/fuse"
exec 3>&-

fmount()
{
	local img=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	dir=$(readlink -f "$dir")
	"$DELTAIR" mount --no-progress "$@" "$img" "$dir" > out 2> err ||
		die "deltair mount $* $img $dir exited $?: $(cat err)"
	at_exit "fusermount3 -u '$dir' || umount -l '$dir'"
	mountpoint -q "$dir" || die "$dir is not a mount point after deltair mount"
}
view()
{
	(cd "$1" && find . -printf '%p %y %m %U %G %s %l\n' | sort
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

mkdir -p one/etc two/srv/www
printf 'first\n' > one/etc/name
printf 'second\n' > two/srv/www/index.html
ln one/etc/name one/etc/alias
mkext4 one one.ext4 8M
mkext4 two two.ext4 8M
mapfile -t offs < <(mkgpt disk.img one.ext4 8300 two.ext4 8300)
[ "${#offs[@]}" = 2 ] || die "mkgpt gave ${#offs[*]} offsets"

fmount disk.img all
[ "$(ls all | tr '\n' ' ')" = "p1 p2 " ] || fail "the root lists '$(ls all | tr '\n' ' ')', want p1 p2"
t_loop disk.img -r -o "${offs[0]}" --sizelimit "$(stat -c %s one.ext4)"
t_mount "$LOOP" l1 ro,noload
t_loop disk.img -r -o "${offs[1]}" --sizelimit "$(stat -c %s two.ext4)"
t_mount "$LOOP" l2 ro,noload
[ "$(view all/p1)" = "$(view l1)" ] || fail "p1/ differs from partition 1: $(diff <(view l1) <(view all/p1) | head)"
[ "$(view all/p2)" = "$(view l2)" ] || fail "p2/ differs from partition 2: $(diff <(view l2) <(view all/p2) | head)"
[ "$(stat -c %i all/p1/etc/name)" = "$(stat -c %i all/p1/etc/alias)" ] || fail "hard links in p1 do not share an inode"
inos=$(find all -printf '%i\n' | sort | uniq -d | wc -l)
links=$(find all -links +1 -type f -printf '%i\n' | sort | uniq -d | wc -l)
[ "$inos" = "$links" ] || fail "$inos inode numbers are shared, only $links by hard links"

fmount disk.img only2 --fs p2
[ "$(view only2)" = "$(view l2)" ] || fail "--fs p2 differs from partition 2"
fmount disk.img off1 --offset "${offs[0]}"
[ "$(view off1)" = "$(view l1)" ] || fail "--offset differs from partition 1"
[ "$(stat -c %i off1/etc/name)" = "$(stat -c %i l1/etc/name)" ] || fail "one filesystem: not the image's inode number"

dt_ok baseline --no-progress -o gold.dtree disk.img
cp --sparse=always disk.img incident.img
t_loop incident.img -o "${offs[1]}" --sizelimit "$(stat -c %s two.ext4)"
t_mount "$LOOP" rw2
printf 'defaced\n' > rw2/srv/www/index.html
umount rw2 || die "cannot unmount the incident's p2"
fmount incident.img delta --baseline gold.dtree --delta
[ "$(ls -A delta | tr '\n' ' ')" = ".deltair p2 " ] || fail "the delta root lists '$(ls -A delta | tr '\n' ' ')'"
[ "$(cat delta/p2/srv/www/index.html)" = defaced ] || fail "the delta shows '$(cat delta/p2/srv/www/index.html)'"
[ "$(cd delta/p2 && find . | sort | tr '\n' ' ')" = ". ./srv ./srv/www ./srv/www/index.html " ] ||
	fail "p2 of the delta holds $(cd delta/p2 && find . | sort | tr '\n' ' ')"

t_done
