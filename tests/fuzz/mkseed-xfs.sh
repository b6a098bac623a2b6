#!/bin/bash
# mkseed-xfs.sh OUT: a seed for fuzz_xfs: a small XFS v5 filesystem (1 KiB blocks, every
# directory and data fork format in miniature) as the records fuzz_xfs.c reads: the
# non-zero sectors outside the log. Needs root (a loop mount) and xfsprogs.
set -eu
out=$1
tmp=$(mktemp -d)
trap 'umount "$tmp/m" 2>/dev/null || true; rm -rf "$tmp"' EXIT
truncate -s 16M "$tmp/img"
TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f -b size=1024 -d agcount=1 -n size=4096 "$tmp/img"
mkdir "$tmp/m"
mount -o loop "$tmp/img" "$tmp/m"
(
	cd "$tmp/m"
	mkdir short block leaf
	printf 'hello\n' > short/a
	ln -s target short/local-link
	ln -s "$(printf 'r%.0s' $(seq 600))" short/remote-link
	for i in $(seq 40); do ln short/a block/entry-$i; done
	for i in $(seq 300); do ln short/a leaf/entry-with-a-longer-name-$i; done
	ln short/a short/hard
	mkfifo short/fifo
	mknod short/null c 1 3
	python3 -c '
import os
a = os.open("frag", os.O_WRONLY | os.O_CREAT, 0o644)
b = os.open("spacer", os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(40):
    os.posix_fallocate(a, i * 2048, 1024)
    os.posix_fallocate(b, i * 1024, 1024)
os.pwrite(a, b"x" * 1024, 0)
'
	truncate -s 100000 sparse
)
umount "$tmp/m"
logstart=$(xfs_db -r -c 'sb 0' -c 'print logstart' "$tmp/img" | sed 's/.* = //')
logblocks=$(xfs_db -r -c 'sb 0' -c 'print logblocks' "$tmp/img" | sed 's/.* = //')
python3 - "$tmp/img" "$out" "$((logstart * 2))" "$((logblocks * 2))" << 'PY'
import struct, sys
img, out, ls, lb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = open(img, "rb").read()
with open(out, "wb") as f:
    for s in range(len(data) // 512):
        if ls <= s < ls + lb:
            continue
        b = data[s * 512:(s + 1) * 512]
        if any(b):
            f.write(struct.pack("<I", s) + b)
PY
