#!/bin/bash
# t1101: times past 2262-04-11 (where int64 nanoseconds end) are kept exactly, not saturated:
# ext4 with 256-byte inodes holds times to 2446-05-10, XFS bigtime to 2486-07-02. Checked in
# the tree export (JSON Lines and bodyfile), in diff events (image and tree against tree),
# in Timesketch lines, and through `deltair mount` (stat of the FUSE view). A file rewritten
# with its mtime moved from 2300 to 2400 lists mtime among its changed fields and is not
# timestomp_suspected; one moved back from 2400 to 2300 is (saturated at 2262, both times
# compared equal: the first was flagged and the second's mtime change was not listed).
# Oracle: the kernel's stat of the same files on a loop mount.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs mkfs.xfs python3 jq stat fusermount3
[ "$(id -u)" -eq 0 ] || skip "needs root (loop mount)"

# stat_line ROOT PATH...: "path mtime atime ctime" (ns) as the kernel (or FUSE) says.
stat_lines()
{
	local root=$1
	shift
	for p in "$@"; do
		printf '%s %s %s %s\n' "$p" $(stat -c '%.9Y %.9X %.9Z' "$root$p" | tr -d .)
	done
}

# rfc NS: ns since the epoch as deltair's RFC 3339 (date(1) is the oracle).
rfc()
{
	echo "$(date -u -d "@${1:0:-9}" +%Y-%m-%dT%H:%M:%S).${1: -9}Z"
}

# export_lines TREE PATH...: the same from deltair's JSON Lines export of TREE.
export_lines()
{
	dt_ok tree export --format jsonl "$1"
	shift
	python3 - out "$@" << 'EOF' || die "reading the export failed"
import calendar, json, re, sys
def ns(t):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{9})Z", t)
    g = [int(x) for x in m.groups()[:6]]
    return "%d" % (calendar.timegm(tuple(g) + (0, 0, 0)) * 10**9 + int(m.group(7)))
es = {e["path"]: e for e in map(json.loads, open(sys.argv[1]))}
for p in sys.argv[2:]:
    e = es[p]
    print(p, ns(e["mtime"]), ns(e["atime"]), ns(e["ctime"]))
EOF
}

# --- ext4: /stomp and /back rewritten, their mtimes 2300 -> 2400 and 2400 -> 2300; /d/edge at
# ext4's last second ---
mke2fs -q -F -t ext4 -I 256 gold.img 16M > /dev/null || die "mke2fs failed"
t_mount gold.img rw loop
printf 'same content\n' > rw/stomp
touch -d '2300-01-01 00:00:00.25 UTC' rw/stomp
printf 'same content\n' > rw/back
touch -d '2400-01-01 UTC' rw/back
mkdir rw/d
printf 'edge\n' > rw/d/edge
touch -d '@15032385535.5' rw/d/edge
umount rw || die "umount failed"
cp gold.img incident.img
t_mount incident.img rw loop
printf 'new! content\n' > rw/stomp
printf 'new! content\n' > rw/back
touch -m -d '2400-01-01 00:00:00.25 UTC' rw/stomp
touch -m -d '2300-01-01 UTC' rw/back
umount rw || die "umount failed"

t_mount_ro gold.img gkern
stat_lines gkern /stomp /back > want-gold.txt
t_mount_ro incident.img kern
stat_lines kern /stomp /back /d/edge > want-ext4.txt
mt() { rfc "$(awk -v p="$2" '$1 == p { print $2 }' "$1")"; }
inc_ns=$(awk '$1 == "/stomp" { print $2 }' want-ext4.txt)
note "kernel: /stomp mtime $(mt want-gold.txt /stomp) -> $(mt want-ext4.txt /stomp)," \
	"/back $(mt want-gold.txt /back) -> $(mt want-ext4.txt /back)"
grep -q '^/stomp 1356[0-9]\{16\} ' want-ext4.txt || die "the kernel does not show 2400 (oracle: $(cat want-ext4.txt))"
dt_ok baseline --no-progress -o gold.dtree gold.img
dt_ok baseline --no-progress -o incident.dtree incident.img
export_lines incident.dtree /stomp /back /d/edge > got-ext4.txt
diff want-ext4.txt got-ext4.txt > d.txt || fail "ext4 times differ from the kernel's (< kernel, > deltair): $(cat d.txt)"

# The bodyfile's seconds (mactime's columns: atime, mtime, ctime, crtime).
dt_ok tree export --format bodyfile incident.dtree
awk -F'|' '$2 == "/d/edge" { print $8, $9 }' out > got-body.txt
[ "$(cat got-body.txt)" = "15032385535 15032385535" ] ||
	fail "bodyfile atime/mtime of /d/edge: '$(cat got-body.txt)', not 15032385535 (2446-05-10)"

# Image against tree, and tree against tree: mtime is a changed field of both; only /back,
# whose clock went back, is timestomp_suspected.
for p in /back /stomp; do
	echo '["'$p'","modified",["sha256","mtime","ctime"],'$([ $p = /back ] &&
		echo '["timestomp_suspected"]' || echo '[]')',"'$(mt want-ext4.txt $p)'","'$(mt want-gold.txt $p)'"]'
done > want-diff.txt
for how in "--baseline gold.dtree incident.img" "gold.dtree incident.dtree"; do
	dt diff --no-progress --no-provenance $how
	expect_rc 1 "diff $how"
	jq -c 'select(.event == "file" and .path != "/") | [.path, .change, .changed, .flags, .mtime, .gold.mtime]' out > got-diff.txt
	diff want-diff.txt got-diff.txt > d.txt || fail "diff $how (< want, > got): $(cat d.txt)"
done

# Timesketch: one line per time; the 2400 mtime in µs and as a date.
dt scan --no-progress --no-provenance --format timesketch --baseline gold.dtree incident.img
[ "$rc" -le 1 ] || fail "scan --format timesketch exited $rc: $(cat err)"
jq -r 'select(.timestamp_desc == "Content Modification Time" and .path == "/stomp") | "\(.datetime) \(.timestamp)"' out > got-ts.txt
inc_m=$(mt want-ext4.txt /stomp)
[ "$(cat got-ts.txt)" = "${inc_m:0:26}+00:00 ${inc_ns:0:-3}" ] ||
	fail "timesketch mtime: '$(cat got-ts.txt)'"

# --- XFS bigtime: the last nanosecond it holds (2486-07-02), its first second (1901), 2300 ---
truncate -s 300M xfs.img
mkfs.xfs -q -f -m bigtime=1 xfs.img > /dev/null 2>&1 || die "mkfs.xfs -m bigtime=1 failed"
t_mount xfs.img xrw loop
for f in max min mid; do printf '%s\n' $f > xrw/$f; done
touch -d '@16299260424' xrw/max
touch -a -d '@16299260423.123456789' xrw/max
touch -d '@-2147483648' xrw/min
touch -d '2300-06-15 12:00:00.123456789 UTC' xrw/mid
umount xrw || die "umount failed"
t_mount_ro xfs.img xkern xfs
stat_lines xkern /max /min /mid > want-xfs.txt
grep -q '^/max 16299260424000000000 16299260423123456789 ' want-xfs.txt ||
	die "the kernel does not show 2486-07-02 (oracle: $(cat want-xfs.txt))"
dt_ok baseline --no-progress -o xfs.dtree xfs.img
export_lines xfs.dtree /max /min /mid > got-xfs.txt
diff want-xfs.txt got-xfs.txt > d.txt || fail "XFS times differ from the kernel's (< kernel, > deltair): $(cat d.txt)"
jq -r 'select(.path == "/max") | .mtime' out > got-max.txt
[ "$(cat got-max.txt)" = "2486-07-02T20:20:24.000000000Z" ] || fail "XFS /max mtime: $(cat got-max.txt)"

# --- deltair mount: the FUSE view's stat equals the kernel's ---
if { exec 3<> /dev/fuse; } 2> /dev/null; then
	exec 3>&-
	for img in incident xfs; do
		mkdir -p view-$img
		"$DELTAIR" mount --no-progress $img.img "$(readlink -f view-$img)" > out 2> err ||
			die "deltair mount $img.img exited $?: $(cat err)"
		at_exit "fusermount3 -u '$(readlink -f view-$img)' || umount -l '$(readlink -f view-$img)'"
	done
	stat_lines view-incident /stomp /back /d/edge > got-fuse-ext4.txt
	diff want-ext4.txt got-fuse-ext4.txt > d.txt || fail "mount (ext4): stat differs (< kernel, > FUSE): $(cat d.txt)"
	stat_lines view-xfs /max /min /mid > got-fuse-xfs.txt
	diff want-xfs.txt got-fuse-xfs.txt > d.txt || fail "mount (XFS): stat differs (< kernel, > FUSE): $(cat d.txt)"
else
	note "no /dev/fuse: the mount view is not checked"
fi

# --- the format: 2.2 written; 2.1 trees (saved by deltair before 2.2) load and diff as then ---
dt_ok tree info gold.dtree
grep -q '^format: deltair tree 2.2$' out || fail "gold.dtree is not format 2.2: $(head -3 out)"
cp "$TOP"/tests/data/dtree/v21-gold.dtree "$TOP"/tests/data/dtree/v21-incident.dtree .
dt_ok tree info v21-gold.dtree
grep -q '^format: deltair tree 2.1$' out || fail "the fixture is not format 2.1: $(head -3 out)"
dt diff --no-provenance v21-gold.dtree v21-incident.dtree
expect_rc 1 "diff of the 2.1 trees"
jq -c 'del(.elapsed)' out > got-v21.jsonl
diff "$TOP"/tests/data/dtree/v21-diff.jsonl got-v21.jsonl > d.txt ||
	fail "2.1 trees: the diff differs from the one deltair 2.1 printed (<): $(cat d.txt)"
t_done
