#!/bin/bash
# t5200-mount-readonly: nothing changes through the view. touch, >, mkdir, rm, rmdir,
# chmod, chown, mv, ln, ln -s, truncate, mknod, setfattr, utimes and an O_RDWR open all
# fail with EROFS ("Read-only file system"), on image files and on the delta view's
# virtual files alike, and the image's bytes are the same afterwards.
. "$TOP/tests/cli/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mke2fs fusermount3 python3 sha256sum
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

# erofs WHAT CMD...: CMD fails, and says "Read-only file system".
erofs()
{
	local what=$1
	shift
	if "$@" > cmd.out 2>&1; then
		fail "$what succeeded on the read-only view"
	elif ! grep -q 'Read-only file system' cmd.out; then
		fail "$what failed, but not with EROFS: $(cat cmd.out)"
	fi
}

mkdir -p tree/dir/sub
printf 'original\n' > tree/file
printf 'other\n' > tree/dir/other
ln -s file tree/link
mkext4 tree img.ext4 16M
before=$(sha256sum < img.ext4)
mkdir gold-tree
mkext4 gold-tree gold.img 16M
dt_ok baseline --no-progress -o gold.dtree gold.img
fmount img.ext4 v
fmount img.ext4 d --baseline gold.dtree --delta

for m in v d; do
	erofs "touch (new) on $m" touch "$m/new"
	erofs "touch (existing) on $m" touch "$m/file"
	erofs "> on $m" bash -c "echo x > '$m/file'"
	erofs ">> on $m" bash -c "echo x >> '$m/file'"
	erofs "mkdir on $m" mkdir "$m/newdir"
	erofs "rm on $m" rm -f "$m/file"
	erofs "rmdir on $m" rmdir "$m/dir/sub"
	erofs "chmod on $m" chmod 000 "$m/file"
	erofs "chown on $m" chown 1:1 "$m/file"
	erofs "mv on $m" mv "$m/file" "$m/renamed"
	erofs "ln on $m" ln "$m/file" "$m/hardlink"
	erofs "ln -s on $m" ln -s file "$m/symlink"
	erofs "truncate on $m" truncate -s 0 "$m/file"
	erofs "mknod on $m" mknod "$m/fifo" p
	erofs "utimes on $m" touch -d 2000-01-01 "$m/dir"
	erofs "O_RDWR open on $m" python3 -c 'import os, sys; os.open(sys.argv[1], os.O_RDWR)' "$m/file"
	if command -v setfattr > /dev/null; then
		erofs "setfattr on $m" setfattr -n user.x -v 1 "$m/file"
	fi
done
erofs "> on events.jsonl" bash -c 'echo x > d/.deltair/events.jsonl'
erofs "rm of events.jsonl" rm -f d/.deltair/events.jsonl
erofs "mkdir in .deltair" mkdir d/.deltair/x

[ "$(cat v/file)" = original ] || fail "v/file reads '$(cat v/file)'"
[ "$(readlink v/link)" = file ] || fail "v/link points at '$(readlink v/link)'"
[ ! -e v/new ] && [ ! -e v/renamed ] && [ ! -e v/newdir ] || fail "a name appeared in the view"
fusermount3 -u "$(readlink -f v)" || fail "cannot unmount v"
fusermount3 -u "$(readlink -f d)" || fail "cannot unmount d"
[ "$(sha256sum < img.ext4)" = "$before" ] || fail "the image changed"

t_done
