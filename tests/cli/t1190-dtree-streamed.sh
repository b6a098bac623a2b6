#!/bin/bash
# t1190: a .dtree is written and read as a stream (issue 7, scale): a tree whose body is many
# times the 1 MiB decoding window (20,000 files, hard links, symlinks) saved to a file, to a
# pipe, to a redirected stdout and to a stdout open for appending loads the same from each, and
# its export lists exactly the files of the image with the hashes sha256sum gives; a tree cut
# short or with a flipped byte deep in the body is refused (exit 3).
# Oracle: sha256sum and find over the image mounted read-only.
. "$TOP/tests/cli/lib.sh"
need mke2fs python3 sha256sum

mkdir tree
python3 - tree << 'PY' || die "making the tree failed"
import os, sys
root = sys.argv[1]
for d in range(40):
    p = os.path.join(root, "dir%02d" % d)
    os.mkdir(p)
    for f in range(500):
        with open(os.path.join(p, "file-with-a-longer-name-%04d" % f), "w") as fp:
            fp.write("%d/%d\n" % (d, f) * (f % 7))
os.link(os.path.join(root, "dir00", "file-with-a-longer-name-0001"), os.path.join(root, "hardlink"))
os.symlink("dir01/file-with-a-longer-name-0002", os.path.join(root, "symlink"))
PY
mke2fs -q -F -t ext4 -N 30000 -d tree ext4.img 128M > /dev/null || die "mke2fs failed"
t_mount_ro ext4.img mnt
(cd mnt && find . -type f -print0 | xargs -0 sha256sum | sed 's|  \./|  /|' | sort -k2) > want.txt
[ "$(wc -l < want.txt)" -eq 20001 ] || die "the oracle listed $(wc -l < want.txt) files"

dt_ok baseline --no-progress --no-rows -o file.dtree ext4.img
"$DELTAIR" baseline --no-progress --no-rows -o - ext4.img 2> /dev/null | cat > pipe.dtree ||
	fail "baseline -o - into a pipe failed"
"$DELTAIR" baseline --no-progress --no-rows -o - ext4.img > stdout.dtree 2> /dev/null ||
	fail "baseline -o - onto a redirected stdout failed"
# A stdout open for reading and appending (Python's "a+b"): the lengths cannot be patched in
# place there (every write goes to the end), so it too must go through the scratch file.
python3 -c '
import subprocess, sys
with open("append.dtree", "a+b") as f:
    sys.exit(subprocess.run(sys.argv[1:], stdout=f, stderr=subprocess.DEVNULL).returncode)' \
	"$DELTAIR" baseline --no-progress --no-rows -o - ext4.img ||
	fail "baseline -o - onto a stdout open for appending failed"
for t in file pipe stdout append; do
	dt_ok tree export --format jsonl "$t.dtree"
	python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["type"] == "file":
        print("%s  %s" % (e["sha256"], e["path"]))' out | sort -k2 > "got-$t.txt"
	cmp -s want.txt "got-$t.txt" || fail "$t.dtree: its files and hashes are not sha256sum's"
	dt diff file.dtree "$t.dtree"
	[ "$rc" -eq 0 ] || fail "diff of file.dtree and $t.dtree exited $rc (want 0: no delta)"
done
dt_ok tree info file.dtree
[ "$(sed -n 's/^file size: *//p' out)" = "$(stat -c %s file.dtree)" ] ||
	fail "tree info's file size is not the file's"

# Damage deep in the body: the digest refuses it before any decoding.
size=$(stat -c %s file.dtree)
head -c $((size - 1000)) file.dtree > cut.dtree
cp file.dtree flipped.dtree
printf '\x55' | dd of=flipped.dtree bs=1 seek=$((size - 5000)) conv=notrunc 2> /dev/null
for t in cut flipped; do
	dt tree info "$t.dtree"
	[ "$rc" -eq 3 ] || fail "$t.dtree: tree info exited $rc (want 3)"
done
t_done
