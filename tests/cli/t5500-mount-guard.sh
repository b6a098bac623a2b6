#!/bin/bash
# t5500-mount-guard: deltair mount refuses a mount point that already holds a FUSE mount (a
# live deltair view: no stacked second view) and a folder that is not empty (its files would
# be hidden), with exit 2 and one line saying which, before walking the image; and
# filesystems without Unix modes (FAT, exFAT) show dirs 0555 and files 0444 (not libtsk's
# made-up 0000/0777/0333/0111), their root dated by the newest entry directly in it (not 1970).
# Oracles: /proc/self/mountinfo (how many mounts), the folder's own files, stat(1) in the
# view, and the times of the root's children.
. "$TOP/tests/cli/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root"
need mke2fs mkfs.vfat mkfs.exfat mcopy mmd mattrib fusermount3 stat
{ exec 3<> /dev/fuse; } 2> /dev/null || skip "cannot open /dev/fuse"
exec 3>&-

# mounts DIR: how many mounts /proc/self/mountinfo lists on DIR (absolute).
mounts()
{
	awk -v d="$1" '$5 == d' /proc/self/mountinfo | wc -l
}

mkdir -p tree/d
printf 'hello\n' > tree/d/f
mkext4 tree img.ext4 16M
mkdir m
mnt=$(readlink -f m)
at_exit "fusermount3 -u '$mnt' 2> /dev/null; fusermount3 -u '$mnt' 2> /dev/null || true"

# --- a live deltair view: a second mount on it is refused, the first one serves on.
dt mount --no-progress img.ext4 "$mnt"
expect_rc 0 "mount" || t_done
[ "$(mounts "$mnt")" -eq 1 ] || fail "after one mount, $(mounts "$mnt") mounts on $mnt"
dt mount --no-progress img.ext4 "$mnt"
expect_rc 2 "mount on a live deltair view" && expect_err_line mount
grep -q -F "cannot mount on '$mnt': a FUSE filesystem (fuse.deltair from 'deltair:img.ext4') is mounted there; unmount it first (fusermount3 -u $mnt)" err ||
	fail "mount on a live view: $(cat err)"
[ "$(mounts "$mnt")" -eq 1 ] || fail "a second view was stacked: $(mounts "$mnt") mounts on $mnt"
[ "$(cat m/d/f)" = hello ] || fail "the first view no longer serves"
# The same through a relative name and a trailing slash.
dt mount --no-progress img.ext4 m/
expect_rc 2 "mount on a live view as m/"
[ "$(mounts "$mnt")" -eq 1 ] || fail "a second view was stacked through m/"
fusermount3 -u "$mnt" || die "fusermount3 -u failed"

# --- a folder that is not empty: refused, its files untouched and still visible.
mkdir full
printf 'mine\n' > full/notes.txt
at_exit "fusermount3 -u '$(readlink -f full)' 2> /dev/null || true"
dt mount --no-progress img.ext4 full
expect_rc 2 "mount on a non-empty folder" && expect_err_line mount
grep -q "cannot mount on 'full': not empty ('notes.txt'); the view would hide what is there: give an empty folder" err ||
	fail "mount on a non-empty folder: $(cat err)"
[ "$(mounts "$(readlink -f full)")" -eq 0 ] || fail "mounted on the non-empty folder"
[ "$(cat full/notes.txt)" = mine ] || fail "full/notes.txt is gone"
# A hidden file counts too; and the check comes before the walk (a missing image is not
# even opened).
mkdir hidden
: > hidden/.keep
dt mount --no-progress no-such.img hidden
expect_rc 2 "mount of a missing image on a non-empty folder"
grep -q "not empty ('.keep')" err || fail "mount on a folder holding .keep: $(cat err)"

# --- FAT and exFAT: sane modes, a dated root.
T=202106011200 # touch -t: 2021-06-01 12:00 (local time: mtools copies it as it is)
printf 'data\n' > f.txt
touch -t "$T" f.txt
truncate -s 40M fat.img
mkfs.vfat -n EVIDENCE fat.img > /dev/null || die "mkfs.vfat failed"
mmd -i fat.img ::/dir || die "mmd failed"
mcopy -m -i fat.img f.txt ::/dir/f.txt || die "mcopy failed"
mcopy -m -i fat.img f.txt ::/ro.txt || die "mcopy failed"
mattrib -i fat.img +r ::/ro.txt || die "mattrib failed"
truncate -s 40M exfat.img
mkfs.exfat exfat.img > /dev/null || die "mkfs.exfat failed"
for img in fat.img exfat.img; do
	mkdir -p "v-$img"
	v=$(readlink -f "v-$img")
	dt mount --no-progress "$img" "$v"
	expect_rc 0 "mount $img" || continue
	at_exit "fusermount3 -u '$v' 2> /dev/null || true"
	[ "$(stat -c '%a %F' "$v")" = "555 directory" ] || fail "$img root: $(stat -c '%a %F' "$v")"
	root=$(stat -c %Y "$v")
	[ "$root" -gt 86400 ] || fail "$img root dated $(stat -c %y "$v")"
	if [ "$img" = exfat.img ]; then
		# Nothing in it (no tool writes files into exFAT without the kernel module): the
		# root is dated when the view was made.
		[ $(($(date +%s) - root)) -lt 600 ] || fail "empty $img root dated $(stat -c %y "$v")"
		find "$v" -mindepth 1 ! -perm 0444 ! -perm 0555 | grep -q . &&
			fail "$img entries with other modes: $(find "$v" -mindepth 1 -printf '%m %p\n')"
		fusermount3 -u "$v" || fail "fusermount3 -u $v failed"
		continue
	fi
	[ "$(stat -c '%a %F' "$v/dir")" = "555 directory" ] || fail "$img /dir: $(stat -c '%a %F' "$v/dir")"
	for f in dir/f.txt ro.txt; do
		[ "$(stat -c '%a %F' "$v/$f")" = "444 regular file" ] ||
			fail "$img /$f: $(stat -c '%a %F' "$v/$f")"
	done
	[ "$(cat "$v/dir/f.txt")" = data ] || fail "$img /dir/f.txt does not read back"
	# The root's time: the newest of its entries (dir, made now, after ro.txt's 2021).
	newest=$(stat -c %Y "$v"/* | sort -n | tail -n 1)
	[ "$root" = "$newest" ] || fail "$img root dated $root, its newest entry $newest"
	[ $(($(date +%s) - root)) -lt 600 ] || fail "$img root dated $(stat -c %y "$v"), not /dir's time"
	fusermount3 -u "$v" || fail "fusermount3 -u $v failed"
done
# ext4 keeps its own modes (0755 from mke2fs -d of a 0755 folder).
dt mount --no-progress img.ext4 "$mnt"
expect_rc 0 "mount img.ext4"
[ "$(stat -c %a "$mnt/d")" = "$(stat -c %a tree/d)" ] || fail "ext4 /d mode changed: $(stat -c %a "$mnt/d")"
[ "$(stat -c %a "$mnt/d/f")" = "$(stat -c %a tree/d/f)" ] || fail "ext4 /d/f mode changed"
fusermount3 -u "$mnt"
t_done
