# tests/cli/lib.sh - shared helpers of the CLI tests; source it first: . "$TOP/tests/cli/lib.sh"
#
# The runner (tests/run) starts each script in a fresh temporary directory as cwd, with DELTAIR
# (the binary), TOP (the repo) and SHARED set. A script exits 0 to pass, 77 to skip (its last
# stdout line says why), anything else to fail.
#
# Helpers:
#   need CMD...            skip unless every command exists
#   at_exit CMD            run CMD (a string, eval'd) at exit, last registered first
#   t_loop IMG [ARGS]      attach a loop device (losetup ARGS) as $LOOP; detached at exit
#   t_mount_ro IMG DIR [FSTYPE] mount an image read-only (no journal replay) on DIR
#   t_mount SRC DIR [OPTS [TYPE]] mount (mkdir -p DIR); unmounted at exit
#   dt ARGS...             run deltair: stdout in ./out, stderr in ./err, status in $rc; a
#                          signal or a sanitizer stop (exit 86, tests/run) is a failure
#   dt_ok ARGS...          dt, and stop the test unless the status is 0
#   expect_rc N WHAT       record a failure unless $rc is N (shows stderr)
#   expect_err_line CMD    stderr is one line "deltair: CMD: <lowercase message>"
#   fail MSG / die MSG     record a failure and go on / stop now; t_done ends the test
#   skip MSG               end the test as skipped (failed, if a check failed already)
#   fixture_tree DIR [big] build the tree of hard cases (big: add a 5 GiB sparse file)
#   mkext4 TREE IMG SIZE   mke2fs -t ext4 -d TREE
#   t_gold_incident TREE SIZE  gold.img and gold.dtree of TREE, and a copy (incident.img)
#                          mounted read-write on ./mnt to be changed in place
#   t_incident_done        the changes on ./mnt are made: sync, umount (incident.img ready)
#   t_host_pair            the worker tests' small pair: gold/etc/hostname host-a on 8M,
#                          incident.img with host-b (t_gold_incident, t_incident_done)
#   wait_log FILE STAGE    wait (at most 20 s) until a worker's log FILE has "stage":"STAGE"
#   check_complete R       a worker's results folder R: its COMPLETE lists exactly the files
#                          stored (and extracted/COMPLETE), each with sha256sum's digest
#   oracle DIR [FS [HASHES]] JSON Lines of every entry below DIR from find -printf and
#                          sha256sum (the independent truth), keys as canon_jsonl
#   canon_jsonl [--fs P]   deltair's file events/exports (stdin) in the same shape
#   compare EXP ACT FIELD... set comparison of two canonical files on the given fields
#   canon_drop REGEX       drop canonical records whose path matches REGEX (stdin)
#   mkgpt DISK IMG CODE... a GPT disk holding the images; prints the partitions' offsets
#   aws_peer CONFIG [ARGS] start tests/peers/aws_peer.py (EBS/STS/EC2/IMDS on 127.0.0.1) as
#                          $AWS_PEER_URL; stopped at exit; see tests/peers/README.md
#   aws_peer_ctl METHOD PATH [JSON]  call one of its test-only /_peer/ endpoints
#   aws_peer_clean         fail unless it recorded no violation (bad signature, bad input)
#   sqs_peer CONFIG        start fauxqs behind aws_peer --proxy (tests/peers/sqs_peer.sh):
#                          SQS_PEER_URL (the proxy, what clients use), FAUXQS_URL; queue
#                          URLs are $SQS_PEER_URL/000000000000/NAME; aws_peer_clean checks
#                          the proxy; stopped at exit; skips without node 22 and fauxqs
#   sqs_count NAME FIELD   fauxqs's count for a queue: approximateMessageCount (visible),
#                          approximateInflightCount, approximateDelayedCount
#   ceph_s3                start a real S3 (radosgw on a one-node memstore Ceph, under ./ceph;
#                          tests/peers/ceph_s3.sh) as $CEPH_S3_URL with the user's keys in
#                          $CEPH_S3_ACCESS_KEY, $CEPH_S3_SECRET_KEY; stopped at exit
#   aws_peer_env           point the AWS SDK variables at $AWS_PEER_URL with the peer's keys
#   t_plant IMG PATH       umount ./mnt (t_gold_incident), then write two bytes into the first
#                          block of ext4 file PATH on IMG behind the filesystem (inode
#                          untouched); their byte offset in $PLANT_OFF
#
# Every loop device and mount a script makes goes through t_loop/t_mount/at_exit, so the
# EXIT trap undoes them whatever happens (a failure, a die, the runner's timeout).
#
# Canonical records: {"p": base64 of the path bytes (absolute, "/" is the root), "type",
# "mode" ("0644"), "uid", "gid", "size", "link" (base64 of the target, or null), "sha256" (or
# null), "inode", "mtime_ns", "atime_ns", "ctime_ns", "crtime_ns" (null when unknown), "fs"};
# from deltair's events also "change" and "flags".

set -u
: "${DELTAIR:?DELTAIR must name the deltair binary}"
: "${TOP:?TOP must name the repository}"
export LC_ALL=C
umask 022

T_FAILS=0
T_CLEANUP=()

at_exit()
{
	T_CLEANUP+=("$*")
}

_t_cleanup()
{
	local i
	for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${T_CLEANUP[i]}" > /dev/null 2>&1 || true
	done
	T_CLEANUP=()
}
trap _t_cleanup EXIT
trap 'exit 130' INT TERM HUP

note()
{
	printf '%s\n' "$*"
}

fail()
{
	printf 'FAIL: %s\n' "$*"
	T_FAILS=$((T_FAILS + 1))
}

die()
{
	printf 'FAIL: %s\n' "$*"
	exit 1
}

# A skip never hides a failure already recorded: then the test fails.
skip()
{
	if [ "$T_FAILS" -gt 0 ]; then
		printf 'FAIL: skipped (%s) after %d failed check(s)\n' "$*" "$T_FAILS"
		exit 1
	fi
	printf '%s\n' "$*"
	exit 77
}

t_done()
{
	if [ "$T_FAILS" -gt 0 ]; then
		printf '%d check(s) failed\n' "$T_FAILS"
		exit 1
	fi
	exit 0
}

need()
{
	local c
	for c in "$@"; do
		command -v "$c" > /dev/null 2>&1 || skip "$c is not installed"
	done
}

[ -x "$DELTAIR" ] || skip "no deltair binary at $DELTAIR"

# Unmount, retrying while something (a FUSE daemon, udev) still holds the mount.
_t_umount()
{
	local i
	for i in 1 2 3 4 5; do
		umount "$1" 2> /dev/null && return 0
		sleep 0.2
	done
	umount -l "$1"
}

LOOP=
t_loop()
{
	local img=$1
	shift
	LOOP=$(losetup -f --show "$@" "$img") || die "losetup $* $img failed"
	at_exit "losetup -d '$LOOP'"
}

t_mount()
{
	local src=$1 dir=$2 opts=${3:-} args=()
	mkdir -p "$dir"
	[ -n "$opts" ] && args+=(-o "$opts")
	[ -n "${4:-}" ] && args+=(-t "$4")
	mount "${args[@]}" "$src" "$dir" || die "mount ${args[*]} $src $dir failed"
	at_exit "_t_umount '$(readlink -f "$dir")'"
}

# Mount an image read-only through a loop device; the journal is not replayed.
t_mount_ro()
{
	local img=$1 dir=$2 fstype=${3:-ext4} opts=ro
	t_loop "$img" -r
	case $fstype in
	ext*) opts=ro,noload ;;
	xfs) opts=ro,norecovery,nouuid ;;
	esac
	t_mount "$LOOP" "$dir" "$opts"
}

rc=0
dt()
{
	rc=0
	"$DELTAIR" "$@" > out 2> err || rc=$?
	if [ "$rc" -ge 128 ]; then
		fail "deltair $* died of signal $((rc - 128)); stderr: $(head -c 2000 err)"
	elif [ "$rc" -eq "${DELTAIR_SAN_EXIT:-86}" ] ||
		grep -q -E '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: ' err; then
		fail "deltair $* stopped in a sanitizer (exit $rc); stderr: $(head -c 2000 err)"
	fi
	return 0
}

dt_ok()
{
	dt "$@"
	[ "$rc" -eq 0 ] || die "deltair $* exited $rc (want 0); stderr: $(head -c 2000 err)"
}

expect_rc()
{
	local want=$1 what=$2
	if [ "$rc" -ne "$want" ]; then
		fail "$what: exit $rc, want $want; stderr: $(head -c 2000 err)"
		return 1
	fi
	return 0
}

# The contract for errors: exactly one line on stderr, "deltair: CMD: message" (lowercase).
expect_err_line()
{
	local cmd=$1 n
	n=$(wc -l < err)
	if [ "$n" -ne 1 ] || [ "$(tail -c 1 err | od -An -c | tr -d ' ')" != '\n' ]; then
		fail "stderr of deltair $cmd is $n line(s), want exactly 1: $(head -c 1000 err)"
		return 1
	fi
	if ! grep -q -E "^deltair: $cmd: [^A-Z]" err; then
		fail "stderr of deltair $cmd is not 'deltair: $cmd: <lowercase message>': $(cat err)"
		return 1
	fi
	return 0
}

# The tree of hard cases. Every object gets a fixed mtime in the past so that later edits
# are always newer. With "big", a 5 GiB sparse file with data at its end.
FIXTURE_TIME='2021-06-01 12:00:00.123456789 UTC'
fixture_tree()
{
	local d=$1 big=${2:-} i p
	[ ! -e "$d" ] || die "fixture_tree: $d exists"
	mkdir -p "$d"
	(
		set -e
		cd "$d"
		mkdir -p etc bin data links special modes names 'dir with spaces'
		printf 'root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/sh\n' \
			> etc/passwd
		printf 'fixture\n' > etc/hostname
		: > empty
		: > data/empty-too
		printf 'hello world\n' > 'dir with spaces/file with spaces.txt'
		# Names: newline, non-UTF-8, the bodyfile separator and its escape, tab,
		# backslash, UTF-8, leading dash, leading and trailing spaces, 255 bytes.
		printf 'newline\n' > "names/new
line"
		printf 'not utf-8\n' > "names/$(printf 'bad\377\376\200name')"
		mkdir "names/$(printf 'dir\351latin1')"
		printf 'in a latin-1 dir\n' > "names/$(printf 'dir\351latin1')/inner"
		printf 'pipe\n' > 'names/a|b'
		printf 'percent\n' > 'names/100%'
		printf 'looks encoded\n' > 'names/%7C|%25'
		printf 'tab\n' > "names/$(printf 'tab\there')"
		printf 'backslash\n' > 'names/back\slash'
		printf 'utf-8\n' > 'names/café-日本-🙂'
		printf 'dash\n' > 'names/-dash'
		printf 'spaces\n' > 'names/  lead and trail  '
		printf 'hidden\n' > names/.hidden
		printf 'comma\n' > 'names/a,b'
		printf 'quote\n' > "names/it's \"q\""
		printf 'long\n' > "names/$(printf 'L%.0s' $(seq 255))"
		# Content at block boundaries, multi-block and random content.
		head -c 4095 /dev/urandom > data/b4095
		head -c 4096 /dev/urandom > data/b4096
		head -c 4097 /dev/urandom > data/b4097
		head -c 300000 /dev/urandom > data/random.bin
		head -c 1048576 /dev/zero | tr '\0' 'z' > data/one-mib.txt
		truncate -s 10M data/sparse
		printf 'in the middle of a hole' |
			dd of=data/sparse bs=1 seek=5000000 conv=notrunc status=none
		truncate -s 1M data/all-hole
		if [ "$big" = big ]; then
			truncate -s 5G data/big-sparse
			printf 'the end of a 5 GiB file\n' |
				dd of=data/big-sparse bs=1 seek=$((5 * 1024 * 1024 * 1024 - 24)) \
					conv=notrunc status=none
		fi
		cp /bin/true bin/true-copy
		printf '#!/bin/sh\necho hi\n' > bin/script.sh
		chmod 0755 bin/script.sh
		# Hard links, in one directory and across directories.
		printf 'linked content\n' > links/h1
		ln links/h1 links/h2
		ln links/h1 'names/h3 elsewhere'
		# Symlinks: absolute, relative, dangling, to a directory, a long (slow) target.
		ln -s /etc/passwd links/abs
		ln -s ../etc/passwd links/rel
		ln -s nowhere/missing links/dangling
		ln -s ../data links/to-dir
		ln -s "$(printf 'long-target/%.0s' $(seq 20))end" links/long
		# Special files.
		mkfifo special/fifo
		python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
			special/sock
		mknod special/null c 1 3
		mknod special/loop200 b 7 200
		# Modes and owners.
		printf '#!/bin/sh\n' > modes/suid
		chmod 4755 modes/suid
		printf 'sgid\n' > modes/sgid
		chmod 2750 modes/sgid
		mkdir modes/sticky
		chmod 1777 modes/sticky
		printf 'none\n' > modes/zero
		chmod 0000 modes/zero
		printf 'user\n' > modes/user-owned
		chown 1000:1000 modes/user-owned
		chmod 0600 modes/user-owned
		printf 'odd\n' > modes/odd-owner
		chown 4242:31337 modes/odd-owner
		chmod 0640 modes/odd-owner
		mkdir modes/private
		chown 1001:1001 modes/private
		chmod 0700 modes/private
		ln -s ../etc/hostname modes/user-link
		chown -h 1000:1000 modes/user-link
		# A path 70 directories deep.
		p=deep
		for i in $(seq -w 1 70); do
			p=$p/level-$i
		done
		mkdir -p "$p"
		printf 'bottom\n' > "$p/bottom.txt"
		find . -depth -exec touch -h -d "$FIXTURE_TIME" {} +
	)
	# Not "( ... ) || die": set -e is ignored inside a list tested by ||.
	[ $? -eq 0 ] || die "fixture_tree $d failed"
}

mkext4()
{
	mke2fs -q -F -t ext4 -d "$1" "$2" "$3" > /dev/null || die "mke2fs -d $1 $2 failed"
}

# sparse-sha256 of a file (docs/dtree-format.md), independently: SHA-256 over the offset
# (u64 LE) and bytes of each non-zero 4 KiB chunk, then the size (u64 LE); holes unread.
_t_sparse_sha256()
{
	python3 - "$1" << 'EOF'
import hashlib, os, struct, sys
C = 4096
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
h, off = hashlib.sha256(), 0
while off < size:
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    off = data - data % C
    end = min(os.lseek(fd, data, os.SEEK_HOLE), size)
    while off < end:
        chunk = os.pread(fd, min(C, size - off), off)
        if chunk.count(0) != len(chunk):
            h.update(struct.pack("<Q", off) + chunk)
        off += len(chunk)
h.update(struct.pack("<Q", size))
print(h.hexdigest())
EOF
}

# Write an XFS mount's metadata in place and unmount it. A freeze first: umount alone leaves
# the changes in the log when another mount namespace (a build's unshare, a chroot) still
# holds the filesystem, and a raw reader does not replay logs.
_t_xfs_quiesce()
{
	xfs_freeze -f "$1" && xfs_freeze -u "$1" || die "xfs_freeze $1 failed"
	umount "$1" || die "umount $1 failed"
}

# An XFS pair: GOLD (mkfs.xfs, 320 MiB, the fixture tree copied in through a loop mount, with
# /data/app.log) and INCIDENT, a copy changed through a loop mount: /etc/passwd modified,
# /data/app.log appended, /bin/backdoor added setuid, /data/b4095 deleted, /data/random.bin
# renamed, /etc/hostname chmod 0777, /links/abs retyped (a symlink made a directory).
t_xfs_pair()
{
	local gold=$1 inc=$2
	[ -d tree ] || fixture_tree tree
	truncate -s 320M "$gold"
	mkfs.xfs -q -f "$gold" > /dev/null 2>&1 || die "mkfs.xfs failed"
	t_mount "$gold" fill loop
	cp -a tree/. fill/ || die "cp -a failed"
	printf 'log line 1\n' > fill/data/app.log
	_t_xfs_quiesce fill
	cp --sparse=always "$gold" "$inc"
	t_mount "$inc" fill loop,nouuid
	(
		set -e
		cd fill
		printf 'root:x:0:0:root:/root:/bin/sh\nevil:x:0:0::/:/bin/sh\n' > etc/passwd
		printf 'log line 2\n' >> data/app.log
		cp /bin/true bin/backdoor
		chmod 4755 bin/backdoor
		rm data/b4095
		mv data/random.bin data/random-renamed.bin
		chmod 0777 etc/hostname
		rm links/abs
		mkdir links/abs
	) || die "changing the incident failed"
	_t_xfs_quiesce fill
}

# The gold from TREE (every time set to FIXTURE_TIME, so that edits are newer), its baseline,
# and the incident: a copy of the gold mounted read-write on ./mnt, so that a change made
# there keeps inode numbers, as on a running machine. Unmount (_t_umount) before reading it.
t_gold_incident()
{
	find "$1" -depth -exec touch -h -d "$FIXTURE_TIME" {} +
	mkext4 "$1" gold.img "$2"
	dt_ok baseline --no-progress -o gold.dtree gold.img
	cp gold.img incident.img
	t_loop incident.img
	t_mount "$LOOP" mnt
}

t_incident_done()
{
	sync
	_t_umount mnt 2> /dev/null || umount mnt
}

t_host_pair()
{
	mkdir -p gold/etc
	printf 'host-a\n' > gold/etc/hostname
	t_gold_incident gold 8M
	printf 'host-b\n' > mnt/etc/hostname
	t_incident_done
}

wait_log()
{
	local i
	for i in $(seq 200); do
		grep -q "\"stage\":\"$2\"" "$1" 2> /dev/null && return 0
		sleep 0.1
	done
	return 1
}

check_complete()
{
	local R=$1 k
	(cd "$R" && find . -type f ! -name COMPLETE -printf '%P\n'; echo extracted/COMPLETE) | sort -u > stored.keys
	jq -r '.objects | keys[]' "$R/COMPLETE" | sort > complete.keys
	cmp -s stored.keys complete.keys ||
		fail "$R: COMPLETE does not list exactly the objects: $(diff stored.keys complete.keys | head -4)"
	while read -r k; do
		[ "$(jq -r --arg k "$k" '.objects[$k]' "$R/COMPLETE")" = "$(sha256sum < "$R/$k" | cut -c1-64)" ] ||
			fail "$R: COMPLETE's sha256 of $k is not sha256sum's"
	done < complete.keys
}

# sha256 of a file: sha256sum, or for large (sparse) files Python's hashlib, which is fed
# zeros for the holes (SEEK_DATA/SEEK_HOLE) instead of reading them. A file with 1 GiB of
# holes or more: "sparse:" and its sparse-sha256, as canon_jsonl gives deltair's.
_t_sha256()
{
	if [ $(($(stat -c '%s - %b * %B' "$1"))) -ge 1073741824 ]; then
		printf 'sparse:%s\n' "$(_t_sparse_sha256 "$1")"
		return
	fi
	if [ "$(stat -c %s "$1")" -le 67108864 ]; then
		sha256sum < "$1" | cut -c1-64
		return
	fi
	python3 - "$1" << 'EOF'
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
h, zero, off = hashlib.sha256(), memoryview(bytes(1 << 20)), 0
while off < size:
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        data = size
    while off < data:
        k = min(data - off, len(zero))
        h.update(zero[:k])
        off += k
    if off >= size:
        break
    end = os.lseek(fd, off, os.SEEK_HOLE)
    os.lseek(fd, off, os.SEEK_SET)
    while off < end:
        b = os.read(fd, min(end - off, 1 << 20))
        if not b:
            raise SystemExit("short read")
        h.update(b)
        off += len(b)
print(h.hexdigest())
EOF
}

# The independent truth about DIR: find -printf for the metadata, sha256sum for content.
# oracle DIR [FS [HASHES]]: canonical JSON Lines (see the top), sorted, with "fs" FS. With
# HASHES (an oracle of another tree, e.g. the tree an image was made from), content hashes
# are taken from there by path instead of reading DIR's files.
oracle()
{
	local dir=$1 fs=${2:-} hashes=${3:-}
	(
		cd "$dir" || exit 1
		find . -printf '%P\0%y\0%m\0%U\0%G\0%s\0%l\0%i\0%T@\0%A@\0%C@\0' > "$OLDPWD/.oracle.meta"
		# find's %B@ is -1 on this system; stat's %W has the birth time.
		find . -exec stat --printf '%n\0%.9W\0' {} + > "$OLDPWD/.oracle.birth"
		[ -n "$hashes" ] && exit 0
		find . -type f -print0 | while IFS= read -r -d '' f; do
			printf '%s\0%s\0' "${f#./}" "$(_t_sha256 "$f")"
		done > "$OLDPWD/.oracle.sha"
	)
	[ $? -eq 0 ] || die "oracle: find in $dir failed"
	python3 - .oracle.meta "$fs" "$hashes" << 'EOF'
import base64, json, sys
meta = open(sys.argv[1], "rb").read().split(b"\0")[:-1]
birth = open(".oracle.birth", "rb").read().split(b"\0")[:-1]
birth = {birth[i]: birth[i + 1] for i in range(0, len(birth), 2)}
fs = sys.argv[2] or None
hashes = {}
if sys.argv[3]:
    for line in open(sys.argv[3]):
        r = json.loads(line)
        if r["sha256"]:
            hashes[base64.b64decode(r["p"])[1:]] = r["sha256"]
else:
    sha = open(".oracle.sha", "rb").read().split(b"\0")[:-1]
    hashes = {sha[i]: sha[i + 1].decode() for i in range(0, len(sha), 2)}
types = {"f": "file", "d": "dir", "l": "symlink", "c": "chardev", "b": "blockdev",
         "p": "fifo", "s": "socket"}
def ns(t):
    sec, _, frac = t.decode().partition(".")
    if sec.startswith("-") or not sec.isdigit():
        return None
    v = int(sec) * 10**9 + int((frac + "000000000")[:9])
    return v or None
out = []
for i in range(0, len(meta), 11):
    rel, y, m, u, g, s, l, ino, t, at, ct = meta[i:i + 11]
    y = y.decode()
    out.append({
        "p": base64.b64encode(b"/" + rel).decode(),
        "type": types.get(y, y),
        "mode": "%04o" % int(m, 8),
        "uid": int(u), "gid": int(g), "size": int(s),
        "link": base64.b64encode(l).decode() if y == "l" else None,
        "sha256": hashes.get(rel) if y == "f" else None,
        "inode": int(ino), "mtime_ns": ns(t), "atime_ns": ns(at), "ctime_ns": ns(ct),
        "crtime_ns": ns(birth.get(b"./" + rel if rel else b".", b"-")), "fs": fs,
    })
for r in sorted(out, key=lambda r: r["p"]):
    print(json.dumps(r, sort_keys=True))
EOF
	rm -f .oracle.meta .oracle.sha .oracle.birth
}

# deltair JSON Lines (exports or file events, stdin) in the canonical shape, sorted.
# --fs P keeps one filesystem; other events (summary, error) are dropped.
canon_jsonl()
{
	python3 -c '
import base64, calendar, json, re, sys
fs = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--fs" else None
def ns(t):
    if not t:
        return None
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", t)
    if not m:
        raise SystemExit("canon_jsonl: bad time %r" % t)
    g = [int(x) for x in m.groups()[:6]]
    frac = (m.group(7) or "") + "000000000"
    return calendar.timegm(tuple(g) + (0, 0, 0)) * 10**9 + int(frac[:9])
out = []
for n, line in enumerate(sys.stdin.buffer, 1):
    try:
        e = json.loads(line)
    except ValueError as x:
        raise SystemExit("canon_jsonl: line %d is not JSON (%s): %r" % (n, x, line[:200]))
    if e.get("event") != "file" or (fs and e.get("fs") != fs):
        continue
    p = base64.b64decode(e["path_bytes"]) if "path_bytes" in e else e["path"].encode()
    lt = e.get("link_target")
    if "link_target_bytes" in e:
        lt = base64.b64decode(e["link_target_bytes"])
    elif lt is not None:
        lt = lt.encode()
    out.append({
        "p": base64.b64encode(p).decode(), "type": e.get("type"), "mode": e.get("mode"),
        "uid": e.get("uid"), "gid": e.get("gid"), "size": e.get("size"),
        "link": base64.b64encode(lt).decode() if lt is not None else None,
        "sha256": e.get("sha256") or ("sparse:" + e["sparse_sha256"] if e.get("sparse_sha256") else None),
        "inode": e.get("inode"),
        "mtime_ns": ns(e.get("mtime")), "atime_ns": ns(e.get("atime")),
        "ctime_ns": ns(e.get("ctime")), "crtime_ns": ns(e.get("crtime")), "fs": e.get("fs"),
        "change": e.get("change"), "flags": sorted(e.get("flags") or []),
    })
for r in sorted(out, key=lambda r: r["p"]):
    print(json.dumps(r, sort_keys=True))
' "$@"
}

# compare EXPECTED ACTUAL FIELD...: set equality of the records projected on the fields
# (always with the path). Prints what is missing and what is extra; status 1 if any.
compare()
{
	python3 - "$@" << 'EOF'
import base64, json, sys
exp_f, act_f, fields = sys.argv[1], sys.argv[2], sys.argv[3:]
def load(f):
    d = {}
    for line in open(f):
        r = json.loads(line)
        d.setdefault(r["p"], []).append(tuple(json.dumps(r.get(k), sort_keys=True) for k in fields))
    return d
exp, act = load(exp_f), load(act_f)
def show(p):
    s = repr(base64.b64decode(p))[2:-1]
    return s if len(s) < 120 else s[:50] + "..." + s[-60:]
def val(k, v):
    v = json.loads(v)
    return repr(base64.b64decode(v))[1:] if k == "link" and v else json.dumps(v)
bad = 0
for p in sorted(set(exp) | set(act), key=base64.b64decode):
    e, a = sorted(exp.get(p, [])), sorted(act.get(p, []))
    if e == a:
        continue
    bad += 1
    if bad > 40:
        continue
    if not a:
        print("  missing %s: %s" % (show(p), " ".join("%s=%s" % (k, val(k, v)) for k, v in zip(fields, e[0]))))
    elif not e:
        print("  extra   %s: %s" % (show(p), " ".join("%s=%s" % (k, val(k, v)) for k, v in zip(fields, a[0]))))
    else:
        diffs = []
        for x, y in zip(e, a):
            diffs += ["%s want %s got %s" % (k, val(k, u), val(k, v))
                      for k, u, v in zip(fields, x, y) if u != v]
        if len(e) != len(a):
            diffs.append("%d record(s), want %d" % (len(a), len(e)))
        print("  differ  %s: %s" % (show(p), "; ".join(diffs)))
if bad:
    print("  (%d path(s) differ)" % bad)
sys.exit(1 if bad else 0)
EOF
}

# Keep only records whose path (decoded) does not match the Python regex (bytes).
canon_drop()
{
	python3 -c '
import base64, json, re, sys
rx = re.compile(sys.argv[1].encode())
for line in sys.stdin:
    if not rx.search(base64.b64decode(json.loads(line)["p"])):
        sys.stdout.write(line)
' "$1"
}

# A GPT disk: mkgpt DISK IMG CODE [IMG CODE]...: one partition per image (sgdisk type
# CODE, e.g. 8300, 0700), laid out from sector 2048, 1 MiB aligned, the image copied in.
# Prints each partition's byte offset, one a line.
mkgpt()
{
	local disk=$1 start=2048 sz n=0 i args=() offs=()
	shift
	local parts=("$@")
	for ((i = 0; i < ${#parts[@]}; i += 2)); do
		sz=$(stat -c %s "${parts[i]}")
		n=$((n + 1))
		args+=(-n "$n:$start:+$(((sz + 511) / 512))" -t "$n:${parts[i + 1]}")
		offs+=($((start * 512)))
		start=$((start + (sz + 1048575) / 1048576 * 2048))
	done
	rm -f "$disk"
	truncate -s $(((start + 2048) * 512)) "$disk"
	sgdisk -o "${args[@]}" "$disk" > /dev/null || die "sgdisk on $disk failed"
	n=0
	for ((i = 0; i < ${#parts[@]}; i += 2)); do
		dd if="${parts[i]}" of="$disk" bs=1M seek="${offs[n]}" oflag=seek_bytes \
			conv=notrunc,sparse status=none || die "dd into $disk failed"
		n=$((n + 1))
	done
	printf '%s\n' "${offs[@]}"
}

# The AWS peer runs on Debian's interpreter, whose botocore (python3-botocore) it checks requests
# against, whatever python3 comes first in PATH.
AWS_PEER_PY=${AWS_PEER_PY:-/usr/bin/python3}
aws_peer()
{
	local cfg=$1 i
	shift
	[ -x "$AWS_PEER_PY" ] && "$AWS_PEER_PY" -c 'import botocore' 2> /dev/null ||
		skip "no python3-botocore for $AWS_PEER_PY"
	rm -f .aws-peer.port
	"$AWS_PEER_PY" "$TOP/tests/peers/aws_peer.py" serve --config "$cfg" \
		--port-file .aws-peer.port --log .aws-peer.log "$@" > /dev/null 2> .aws-peer.err &
	AWS_PEER_PID=$!
	at_exit "kill $AWS_PEER_PID; wait $AWS_PEER_PID"
	for i in $(seq 100); do
		[ -s .aws-peer.port ] && break
		kill -0 "$AWS_PEER_PID" 2> /dev/null || die "aws_peer: $(cat .aws-peer.err)"
		sleep 0.1
	done
	[ -s .aws-peer.port ] || die "aws_peer did not start"
	AWS_PEER_PORT=$(cat .aws-peer.port)
	AWS_PEER_URL=http://127.0.0.1:$AWS_PEER_PORT
}

aws_peer_ctl()
{
	"$AWS_PEER_PY" "$TOP/tests/peers/aws_peer.py" ctl "$AWS_PEER_PORT" "$@"
}

ceph_s3()
{
	need ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool
	. "$TOP/tests/peers/ceph_s3.sh"
	at_exit "ceph_s3_stop '$PWD/ceph'"
	ceph_s3_start "$PWD/ceph" 2> .ceph-s3.err || die "ceph_s3: $(cat .ceph-s3.err)"
}

aws_peer_env()
{
	export AWS_ENDPOINT_URL_EBS=$AWS_PEER_URL AWS_ENDPOINT_URL=$AWS_PEER_URL AWS_REGION=us-east-1
	export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION
}

PLANT_OFF=
t_plant()
{
	local bs blk
	sync
	_t_umount mnt || die "umount failed"
	losetup -d "$LOOP"
	bs=$(dumpe2fs -h "$1" 2> /dev/null | awk -F': *' '/^Block size/ {print $2}')
	blk=$(debugfs -R "bmap $2 0" "$1" 2> /dev/null)
	[ -n "$bs" ] && [ "${blk:-0}" -gt 0 ] || die "no block map of $2 ($bs, $blk)"
	PLANT_OFF=$((blk * bs + 100))
	printf '\x00\xff' | dd of="$1" bs=1 seek=$PLANT_OFF conv=notrunc status=none
}

aws_peer_clean()
{
	local v
	v=$(aws_peer_ctl GET /_peer/violations) || die "aws_peer: cannot read violations"
	[ "$v" = "[]" ] || fail "the AWS peer recorded violations: $v"
}

# SQS: fauxqs behind aws_peer --proxy (tests/peers/sqs_peer.sh); see the list at the top.
sqs_peer()
{
	local i
	mkdir -p .sqs-peer
	bash "$TOP/tests/peers/sqs_peer.sh" "$1" .sqs-peer 2> .sqs-peer/err &
	SQS_PEER_PID=$!
	at_exit "kill $SQS_PEER_PID; wait $SQS_PEER_PID"
	# Up to 60 s: node and botocore load slowly on a busy machine.
	for i in $(seq 1200); do
		[ -e .sqs-peer/ready ] && break
		if ! kill -0 "$SQS_PEER_PID" 2> /dev/null; then
			wait "$SQS_PEER_PID"
			[ $? -eq 77 ] && skip "$(cat .sqs-peer/err)"
			die "sqs_peer: $(cat .sqs-peer/err)"
		fi
		sleep 0.05
	done
	[ -e .sqs-peer/ready ] || die "sqs_peer did not start"
	SQS_PEER_URL=http://127.0.0.1:$(cat .sqs-peer/proxy.port)
	FAUXQS_URL=http://127.0.0.1:$(cat .sqs-peer/fauxqs.port)
	AWS_PEER_PORT=$(cat .sqs-peer/proxy.port)
}

sqs_count()
{
	curl -s -f "$FAUXQS_URL/_fauxqs/queues" |
		jq -r --arg n "$1" --arg f "$2" '.[] | select(.name == $n) | .[$f]'
}
