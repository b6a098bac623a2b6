#!/bin/bash
# t1110: hashing cost follows allocated bytes. A file with 1 GiB of holes or more is hashed
# as sparse-sha256 (over its non-zero 4 KiB chunks and their offsets, then its size), given
# as "sparse_sha256" with "sha256": null, never as a sha256; below that it is sha256sum's.
# A 1 TiB sparse file takes well under ten seconds, in an image and through dir:; the diff
# sees a write into a hole and nothing else; a size no ext4 can hold is an error event.
# Oracle: sha256sum, and a Python sparse-sha256 (lib.sh) that reads the files through the
# kernel (a loop mount) with SEEK_DATA/SEEK_HOLE.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs python3
[ "$(id -u)" -eq 0 ] || skip "needs root (loop mount)"

# field EXPORT PATH KEY: a key of the exported entry of PATH ("None" when null).
field()
{
	python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("path") == sys.argv[2]:
        print(e.get(sys.argv[3]))
' "$@"
}

mkdir tree
truncate -s 1T tree/big
# Data at 400 KiB and across the 2 GiB mark, an odd size: chunks that are part hole.
head -c 12288 /dev/urandom | dd of=tree/holey bs=1024 seek=400 conv=notrunc status=none
printf 'across the 2 GiB mark' | dd of=tree/holey bs=1 seek=$((2 * 1024 * 1024 * 1024 - 7)) conv=notrunc status=none
truncate -s $((3 * 1024 * 1024 * 1024 + 7)) tree/holey
# 100 MiB of holes: under the limit, so sha256sum's value.
printf 'head' > tree/small-holes
truncate -s 100M tree/small-holes
printf 'a line\n' > tree/log
# 1 KiB blocks: holes and data do not line up with the 4 KiB chunks.
mke2fs -q -F -t ext4 -b 1024 -d tree ext4.img 64M > /dev/null || die "mke2fs failed"

ms() { echo $(($(date +%s%N) / 1000000)); }
start=$(ms)
timeout 60 "$DELTAIR" baseline --no-progress -o gold.dtree ext4.img 2> err
rc=$?
took=$(($(ms) - start))
[ $rc -eq 0 ] || die "baseline exited $rc (124: over a minute): $(cat err)"
note "baseline of an image with a 1 TiB sparse file: $took ms"
[ $took -lt 10000 ] || fail "baseline took $took ms (want < 10 s)"
dt_ok tree export --format jsonl gold.dtree
cp out gold.jsonl

t_mount_ro ext4.img mnt
for f in big holey; do
	want=$(_t_sparse_sha256 mnt/$f)
	[ "$(field gold.jsonl /$f sparse_sha256)" = "$want" ] ||
		fail "/$f: sparse_sha256 $(field gold.jsonl /$f sparse_sha256), want $want"
	[ "$(field gold.jsonl /$f sha256)" = None ] || fail "/$f: a sha256 besides its sparse_sha256"
done
for f in small-holes log; do
	want=$(sha256sum < mnt/$f | cut -c1-64)
	[ "$(field gold.jsonl /$f sha256)" = "$want" ] || fail "/$f: sha256 is not sha256sum's"
	[ "$(field gold.jsonl /$f sparse_sha256)" = None ] || fail "/$f: has a sparse_sha256"
done
# The hashdeep list has no place for a sparse-sha256: those files are left out.
dt_ok tree export --format hashdeep gold.dtree
grep -q ',/\?big$\|,big$' out && fail "the hashdeep export lists /big with a sparse-sha256"

# Through dir: the same values: the kind and the hash depend on the content alone.
start=$(ms)
timeout 60 "$DELTAIR" baseline --no-progress -o dir.dtree "dir:$PWD/mnt" 2> err ||
	die "baseline of dir: failed: $(cat err)"
note "baseline of the mount (dir:): $(($(ms) - start)) ms"
dt_ok tree export --format jsonl dir.dtree
for f in big holey small-holes log; do
	for k in sha256 sparse_sha256; do
		[ "$(field out /$f $k)" = "$(field gold.jsonl /$f $k)" ] ||
			fail "/$f: $k through dir: $(field out /$f $k), from the image $(field gold.jsonl /$f $k)"
	done
done
_t_umount "$PWD/mnt"

# A write into a hole of /holey: modified; /big untouched: not in the delta.
cp ext4.img incident.img
mkdir -p rw
mount -o loop incident.img rw || die "mount incident.img failed"
printf 'X' | dd of=rw/holey bs=1 seek=$((1024 * 1024 * 1024)) conv=notrunc status=none
umount rw
dt diff --baseline gold.dtree -o delta.jsonl incident.img
expect_rc 1 "diff after a write into a hole"
python3 - delta.jsonl << 'EOF' || fail "the delta is not /holey modified alone"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
files = {e["path"]: e for e in ev if e["event"] == "file"}
ok = set(files) == {"/holey"} and files["/holey"]["change"] == "modified"
ok = ok and files["/holey"]["sha256"] is None and files["/holey"]["sparse_sha256"]
ok = ok and files["/holey"]["gold"].get("sparse_sha256") not in (None, files["/holey"]["sparse_sha256"])
ok = ok and "sparse_sha256" in files["/holey"]["changed"] and "sha256" not in files["/holey"]["changed"]
print(json.dumps(files, indent=1)[:2000])
sys.exit(0 if ok else 1)
EOF

# A size beyond 2^32 blocks (a flipped high byte): an error event for it, no hashing.
cp ext4.img damaged.img
debugfs -w -R "sif /log size 72057594037927936" damaged.img 2> /dev/null
start=$(date +%s)
dt diff --baseline gold.dtree -o damaged.jsonl damaged.img
[ $(($(date +%s) - start)) -lt 20 ] || fail "the diff of a damaged size took $(($(date +%s) - start)) s"
expect_rc 8 "diff of the damaged image (incomplete)"
python3 - damaged.jsonl << 'EOF' || fail "no error event and content_unread file event for /log's impossible size"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if any(e["event"] == "error" and e.get("path") == "/log" and "beyond" in e["message"]
                  for e in ev) and
         any(e["event"] == "file" and e.get("path") == "/log" and e["change"] == "modified" and
             "content_unread" in e["flags"] for e in ev) else 1)
EOF
t_done
