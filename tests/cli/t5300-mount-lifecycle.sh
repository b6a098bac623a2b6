#!/bin/bash
# t5300-mount-lifecycle: the daemon goes away cleanly after `fusermount3 -u`, after SIGTERM
# and (in the foreground, -f) after SIGINT, leaving no mount and no deltair process; a bad
# image or mountpoint fails before anything is mounted, with one error line and the exit
# status of the table; a truncated image mounts or fails but never hangs, and a file whose
# data lies past the end of the image reads as EIO while the others read fine.
. "$TOP/tests/cli/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root"
need mke2fs fusermount3 debugfs timeout
{ exec 3<> /dev/fuse; } 2> /dev/null || skip "cannot open /dev/fuse"
exec 3>&-

# The deltair processes whose last argument is DIR (as given: absolute, or "m"); zombies
# waiting for their reaper do not count.
daemons()
{
	local p
	for p in $(pgrep -x deltair); do
		grep -q '^State:.*Z' "/proc/$p/status" 2> /dev/null && continue
		{ tr '\0' ' ' < "/proc/$p/cmdline"; } 2> /dev/null | grep -qE -- " ($1|m) \$" && echo "$p"
	done
	return 0
}
# gone DIR: within 10 s, DIR is no mount point and no deltair serves it.
gone()
{
	local _
	for _ in $(seq 1 50); do
		if ! mountpoint -q "$1" && [ -z "$(daemons "$1")" ]; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}
# up DIR: within 10 s, DIR is a deltair mount.
up()
{
	local _
	for _ in $(seq 1 50); do
		grep -F " $1 " /proc/self/mountinfo | grep -q ' - fuse\.deltair ' && return 0
		sleep 0.2
	done
	return 1
}

mkdir -p tree/d
printf 'hello\n' > tree/d/f
mkext4 tree img.ext4 16M
mkdir -p m
mnt=$(readlink -f m)
at_exit "fusermount3 -u '$mnt' || umount -l '$mnt'"

note "fusermount3 -u ends the daemon"
dt mount --no-progress img.ext4 "$mnt"
expect_rc 0 "mount" || t_done
[ ! -s err ] || fail "mount printed on stderr: $(cat err)"
mountpoint -q "$mnt" || fail "not mounted after deltair mount returned"
[ "$(cat m/d/f)" = hello ] || fail "m/d/f reads '$(cat m/d/f)'"
pids=$(daemons "$mnt")
[ -n "$pids" ] || fail "no deltair process serves the mount"
fusermount3 -u "$mnt" || fail "fusermount3 -u failed"
gone "$mnt" || fail "after fusermount3 -u: still mounted or served by $(daemons "$mnt")"

note "SIGTERM ends the daemon and unmounts (a relative mountpoint too)"
dt mount --no-progress img.ext4 m
expect_rc 0 "mount" || t_done
pids=$(daemons "$mnt")
[ "$(echo "$pids" | wc -w)" = 1 ] || fail "want one daemon, found '$pids'"
kill -TERM $pids
gone "$mnt" || fail "after SIGTERM: still mounted or served by $(daemons "$mnt")"

note "-f stays in the foreground until SIGINT"
# A script's background jobs start with SIGINT ignored, and libfuse keeps an ignored signal
# ignored: give deltair the default disposition, as an interactive shell would.
python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
	"$DELTAIR" mount -f --no-progress img.ext4 m > fg.out 2> fg.err &
fg=$!
up "$mnt" || fail "the foreground mount did not come up: $(cat fg.err)"
[ "$(cat m/d/f)" = hello ] || fail "m/d/f reads '$(cat m/d/f)' in the foreground mount"
kill -0 "$fg" 2> /dev/null || fail "the foreground deltair is not running"
kill -INT "$fg"
rc=0
wait "$fg" || rc=$?
[ "$rc" = 0 ] || fail "the foreground deltair exited $rc after SIGINT: $(cat fg.err)"
[ ! -s fg.err ] || fail "the foreground deltair printed: $(cat fg.err)"
gone "$mnt" || fail "after SIGINT: still mounted"

note "bad image: exit 3, one line, nothing mounted"
head -c 4M /dev/urandom > junk.img
dt mount --no-progress junk.img "$mnt"
expect_rc 3 "mount of a junk image" && expect_err_line mount
gone "$mnt" || fail "something is mounted after a failed mount"
dt mount --no-progress no-such.img "$mnt"
[ "$rc" -ge 2 ] && expect_err_line mount || fail "missing image: exit $rc"
gone "$mnt" || fail "something is mounted after a failed mount"

note "bad mountpoint: one line"
dt mount --no-progress img.ext4 no-such-dir
[ "$rc" -ge 2 ] && expect_err_line mount || fail "missing mountpoint: exit $rc"
grep -q "no-such-dir" err || fail "the error does not name the mountpoint: $(cat err)"
: > plain-file
dt mount --no-progress img.ext4 plain-file
[ "$rc" -ge 2 ] && expect_err_line mount || fail "file as mountpoint: exit $rc"
dt mount --no-progress --fs p7 img.ext4 "$mnt"
expect_rc 2 "--fs p7 on a one-filesystem image" && expect_err_line mount
gone "$mnt" || fail "something is mounted after a failed mount"

note "usage errors: exit 2"
dt mount img.ext4
expect_rc 2 "one argument"
dt mount --delta img.ext4 "$mnt"
expect_rc 2 "--delta without --baseline"
dt mount --fs bogus img.ext4 "$mnt"
expect_rc 2 "--fs bogus"
dt mount --help
expect_rc 0 "--help"
grep -q 'usage: deltair mount' out || fail "--help prints no usage"

note "a truncated image: no hang; data past the end is EIO for that file only"
mkdir -p t2
printf 'small file\n' > t2/small
head -c 3000000 /dev/urandom > big
# big goes in after small, so that its blocks follow small's.
mke2fs -q -F -t ext4 -b 4096 -d t2 trunc.img 16M > /dev/null || die "mke2fs failed"
debugfs -w -R "write big big" trunc.img > /dev/null 2>&1 || die "debugfs write failed"
first=$(debugfs -R "blocks /big" trunc.img 2> /dev/null | awk '{print $1}')
[ -n "$first" ] || die "debugfs found no blocks of /big"
truncate -s $(((first + 100) * 4096)) trunc.img
rc=0
timeout 60 "$DELTAIR" mount --no-progress trunc.img "$mnt" > out 2> err || rc=$?
[ "$rc" != 124 ] || fail "mounting a truncated image hung"
if [ "$rc" = 0 ]; then
	note "(mounted; reading)"
	[ "$(timeout 20 cat m/small)" = "small file" ] || fail "small reads '$(timeout 20 cat m/small 2>&1)'"
	if timeout 20 cat m/big > big.out 2> big.err; then
		fail "reading a file past the end of the image succeeded"
	else
		grep -q 'Input/output error' big.err || fail "reading past the end: $(cat big.err), want EIO"
	fi
	[ "$(head -c 4096 m/big | wc -c)" = 4096 ] || fail "the part of big inside the image is not readable"
	[ "$(timeout 20 cat m/small)" = "small file" ] || fail "small is unreadable after the EIO"
	fusermount3 -u "$mnt" || fail "cannot unmount the truncated image's view"
else
	expect_err_line mount
fi
gone "$mnt" || fail "the truncated image's view did not go away"

t_done
