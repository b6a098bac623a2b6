#!/bin/bash
# t5400-mount-user: an unprivileged user mounts a view through fusermount3; the image's
# modes are enforced on that user (default_permissions); other users, root included, are
# kept out unless --allow-other, which fusermount3 grants only with user_allow_other in
# /etc/fuse.conf (else the mount fails with one error line).
. "$TOP/tests/cli/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (to set up the user's files)"
need mke2fs fusermount3 setpriv
{ exec 3<> /dev/fuse; } 2> /dev/null || skip "cannot open /dev/fuse"
exec 3>&-
fm=$(command -v fusermount3)
[ -u "$fm" ] || skip "fusermount3 is not setuid root: users cannot mount"
getent passwd nobody > /dev/null || skip "no user nobody"
uid=$(id -u nobody) gid=$(id -g nobody)

# A world-readable place: the test's own directory is private to root.
w=$(mktemp -d /tmp/deltair-t5400-XXXXXX)
at_exit "rm -rf '$w'"
chmod 0755 "$w"
cp "$DELTAIR" "$w/deltair"
chmod 0755 "$w/deltair"
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; }
mounted() { grep -F " $1 " /proc/self/mountinfo | grep -q ' - fuse\.deltair '; }
# Whether users may mount FUSE at all is asked of the machine, not read from deltair's errors.
as_user sh -c 'exec 3<> /dev/fuse' 2> /dev/null || skip "user nobody cannot open /dev/fuse ($(stat -c %A /dev/fuse))"

mkdir -p tree/pub tree/private
printf 'public\n' > tree/pub/readme
printf 'secret\n' > tree/pub/secret
chmod 0600 tree/pub/secret
printf 'hidden\n' > tree/private/inside
chown 1001:1001 tree/private
chmod 0700 tree/private
mkext4 tree "$w/img.ext4" 8M
chmod 0644 "$w/img.ext4"
mkdir -m 0755 "$w/m"
chown "$uid:$gid" "$w/m"
at_exit "fusermount3 -u '$w/m' || umount -l '$w/m'"

rc=0
as_user "$w/deltair" mount --no-progress "$w/img.ext4" "$w/m" > out 2> err || rc=$?
expect_rc 0 "mount as nobody" || t_done
mounted "$w/m" || fail "not mounted"
[ "$(as_user cat "$w/m/pub/readme")" = public ] || fail "nobody cannot read a 0644 file"
as_user cat "$w/m/pub/secret" > /dev/null 2> e1 && fail "nobody read a 0600 root file"
grep -q 'Permission denied' e1 || fail "reading a 0600 root file: $(cat e1), want EACCES"
as_user ls "$w/m/private" > /dev/null 2> e2 && fail "nobody listed a 0700 directory of uid 1001"
grep -q 'Permission denied' e2 || fail "listing a 0700 dir: $(cat e2), want EACCES"
ls "$w/m" > /dev/null 2> e3 && fail "root got into nobody's mount without --allow-other"
as_user touch "$w/m/pub/new" 2> e4 && fail "nobody created a file"
grep -q 'Read-only file system' e4 || fail "touch as nobody: $(cat e4), want EROFS"
as_user fusermount3 -u "$w/m" || fail "nobody cannot unmount the view"
for _ in $(seq 1 50); do mounted "$w/m" || break; sleep 0.2; done
mounted "$w/m" && fail "still mounted after nobody's fusermount3 -u"

rc=0
as_user "$w/deltair" mount --no-progress --allow-other "$w/img.ext4" "$w/m" > out 2> err || rc=$?
if grep -q '^[[:space:]]*user_allow_other' /etc/fuse.conf 2> /dev/null; then
	expect_rc 0 "--allow-other with user_allow_other"
	[ "$(cat "$w/m/pub/readme")" = public ] || fail "root cannot read with --allow-other"
	fusermount3 -u "$w/m" || fail "cannot unmount"
else
	[ "$rc" -ge 2 ] || fail "--allow-other without user_allow_other: exit $rc"
	expect_err_line mount
	grep -q allow_other err || fail "the error does not mention allow_other: $(cat err)"
	mounted "$w/m" && fail "mounted although fusermount3 refused"
fi

t_done
