#!/bin/bash
# t1100: ext4 times outside 1970-2038. 256-byte inodes keep two epoch bits beside the
# nanoseconds; libtsk reads the seconds as unsigned and drops those bits (1960 came out as
# 2096, 2200 as 2063). Every time field (mtime, atime, ctime, crtime, to the nanosecond)
# of files dated before 1901 (the kernel clamps to 1901-12-13), in 1960, after 2038 and
# near 2446, on 256-byte and 128-byte inodes; and 1,200 inodes over several block groups.
# Times past 2262-04-11 (where int64 nanoseconds end) come out exactly too, raw and dir:.
# Oracle: the kernel's stat of the image mounted read-only (os.stat, stat %W).
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs python3 stat jq find
[ "$(id -u)" -eq 0 ] || skip "needs root (loop mount)"

# mtime and atime through the kernel (touch), ctime and crtime through debugfs.
dates=("1900-01-01 00:00:00" "1960-01-01 12:34:56.123456789" "2100-03-04 05:06:07.5"
	"2200-01-01 00:00:00.999999999" "2021-06-01 12:00:00.25" "2446-05-01 00:00:00.5")
ctimes=(@-2147483648 @-315619200 @5680281600 @7258118400 @1622548800 @15031526399)
crtimes=(@-1000000000 @4102444800 @-2147483648 @9000000000 @0 @15000000000)
for isize in 256 128; do
	img=ext4-$isize.img
	mke2fs -q -F -t ext4 -I $isize "$img" 16M > /dev/null || die "mke2fs -I $isize failed"
	mkdir -p rw
	mount -o loop "$img" rw || die "mount $img failed"
	for i in "${!dates[@]}"; do
		f=rw/f$i
		printf 'file %d\n' "$i" > "$f"
		touch -m -d "${dates[i]} UTC" "$f"
		# atime a day and a second later, so that the fields cannot be swapped unseen.
		touch -a -d "${dates[i]} UTC + 1 day + 1 second" "$f"
	done
	umount rw
	for i in "${!dates[@]}"; do
		debugfs -w -R "set_inode_field /f$i ctime ${ctimes[i]}" "$img" 2> /dev/null
		[ $isize -gt 128 ] &&
			debugfs -w -R "set_inode_field /f$i crtime ${crtimes[i]}" "$img" 2> /dev/null
	done
	t_mount_ro "$img" mnt-$isize
	python3 - mnt-$isize > want-$isize.txt << 'EOF' || die "oracle failed"
import decimal, os, subprocess, sys
root = sys.argv[1]
for n in sorted(os.listdir(root)):
    if not n.startswith("f"):
        continue
    p = os.path.join(root, n)
    s = os.stat(p)
    w = subprocess.run(["stat", "-c", "%.9W", p], capture_output=True, text=True).stdout.strip()
    b = int(decimal.Decimal(w) * 10**9) if w not in ("0", "-", "0.000000000") else None
    print("/%s %d %d %d %s" % (n, s.st_mtime_ns, s.st_atime_ns, s.st_ctime_ns, b))
EOF
	dt_ok baseline --no-progress -o $isize.dtree "$img"
	dt_ok tree export --format jsonl $isize.dtree
	python3 - out > got-$isize.txt << 'EOF' || die "reading the export failed"
import calendar, json, re, sys
def ns(t):
    if not t:
        return None
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", t)
    g = [int(x) for x in m.groups()[:6]]
    return calendar.timegm(tuple(g) + (0, 0, 0)) * 10**9 + int(((m.group(7) or "") + "0" * 9)[:9])
for line in open(sys.argv[1]):
    e = json.loads(line)
    if re.fullmatch(r"/f\d", e["path"]):
        print(e["path"], ns(e["mtime"]), ns(e["atime"]), ns(e["ctime"]), ns(e.get("crtime")))
EOF
	sort -o got-$isize.txt got-$isize.txt
	note "kernel's stat, $isize-byte inodes (path mtime atime ctime crtime, ns):"
	cat want-$isize.txt
	[ "$(wc -l < want-$isize.txt)" -eq ${#dates[@]} ] || die "the oracle lists $(wc -l < want-$isize.txt) files"
	# The test's own sanity: the dates really are outside 1970-2038 on the kernel's side.
	grep -q -- ' -' want-$isize.txt || die "no time before 1970 in the image"
	[ $isize -eq 128 ] || grep -q ' 150[0-9]\{17\}' want-$isize.txt ||
		die "no time near 2446 in the image"
	diff want-$isize.txt got-$isize.txt > d.txt ||
		fail "$isize-byte inodes: times differ from the kernel's (< kernel, > deltair): $(cat d.txt)"
done

# Many inodes over several block groups (1 KiB blocks; the kernel spreads top-level folders),
# each with its own pre-1970 mtime: every entry's time is read from its own inode, wherever
# it lies in the inode tables.
mke2fs -q -F -t ext4 -b 1024 -I 256 spread.img 64M > /dev/null || die "mke2fs spread.img failed"
mount -o loop spread.img rw || die "mount spread.img failed"
python3 - rw << 'EOF' || die "filling spread.img failed"
import os, sys
for d in range(8):
    os.mkdir(os.path.join(sys.argv[1], "d%d" % d))
    for f in range(150):
        p = os.path.join(sys.argv[1], "d%d" % d, "f%d" % f)
        open(p, "w").close()
        t = -315619200 + d * 1000 + f
        os.utime(p, ns=(t * 10**9, t * 10**9 + 7))
EOF
umount rw
t_mount_ro spread.img mnt-spread
(cd mnt-spread && find d* -type f -printf '/%p %T@\n' | sort) > want-spread.txt
[ "$(wc -l < want-spread.txt)" -eq 1200 ] || die "the oracle lists $(wc -l < want-spread.txt) files"
dt_ok baseline --no-progress -o spread.dtree spread.img
dt_ok tree export --format jsonl spread.dtree
jq -r 'select(.type == "file") | .path + " " + .mtime' out | python3 -c '
import calendar, sys
for l in sys.stdin:
    p, t = l.split()
    s = calendar.timegm(tuple(int(x) for x in t[:19].replace("-", " ").replace("T", " ").replace(":", " ").split()) + (0, 0, 0))
    print("%s %d.%s" % (p, s, (t[20:-1] + "0" * 10)[:10]))
' | sort > got-spread.txt
diff want-spread.txt got-spread.txt > d.txt ||
	fail "inodes across groups: mtimes differ (< kernel, > deltair): $(head -20 d.txt)"
# dir: reads times through statx: the last second ext4 holds (2446-05-10T22:38:55Z), exactly.
mkdir -p far
touch far/late
touch -d "@15032385535.987654321" far/late || die "touch far/late failed"
[ "$(stat -c %Y far/late)" -gt 9223372036 ] || skip "this filesystem cannot hold a time past 2262"
want=$(date -u -d "@$(stat -c %Y far/late)" +%Y-%m-%dT%H:%M:%S).$(stat -c %.9Y far/late | cut -d. -f2)Z
dt_ok baseline --no-progress -o far.dtree dir:far
dt_ok tree export --format jsonl far.dtree
jq -r 'select(.path == "/late") | .mtime' out > got-far.txt
[ "$(cat got-far.txt)" = "$want" ] ||
	fail "dir: mtime past 2262 read as $(cat got-far.txt), not $want (the kernel's)"
t_done
