#!/bin/bash
# t1140: the dir: walker reports a path too long for a .dtree (HTREE_MAX_PATH, 65,536 bytes)
# as the libtsk walker does: "path too long; entry skipped", nothing cut mid-name, nothing
# below the skipped folder, and the baseline says it is incomplete (exit 8: an entry could
# not be read). 265 nested folders of 250-byte names and a leaf file; the same
# tree read from an ext4 image gives the same entries. Oracle: find(1) over the tree, cut
# where the path would pass 65,536 bytes.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq python3

name=$(printf 'd%.0s' $(seq 1 250))
(
	set -e
	mkdir deep && cd deep
	for i in $(seq 1 265); do mkdir "$name" && cd "$name"; done
	printf 'leaf\n' > leaf.txt
) || die "building the deep tree failed"

# The oracle: every path find sees, "/" plus the relative path, kept while within the cap.
(cd deep && find . -mindepth 1 -printf '%P\n') | python3 -c '
import sys
for l in sys.stdin:
    p = "/" + l.rstrip("\n")
    if len(p.encode()) <= 65536:
        print(p)
print("/")' | sort > expected.txt
[ "$(wc -l < expected.txt)" -eq 262 ] || die "oracle: $(wc -l < expected.txt) paths, want 262"

paths_of()
{
	dt_ok tree export --format jsonl "$1"
	jq -r '.path' out | sort > "$2"
}

check()
{
	local what=$1 listing=$2
	grep -c 'path too long; entry skipped' err > n.txt || true
	[ "$(cat n.txt)" = 1 ] || fail "$what: $(cat n.txt) 'path too long' warnings, want 1: $(head -c 600 err)"
	grep -v '^/lost+found$' "$listing" > listing.txt
	cmp -s expected.txt listing.txt || fail "$what: entries differ from find's: $(diff expected.txt listing.txt | cut -c 1-120 | head -5)"
}

dt baseline --no-progress --no-rows -o d.dtree "dir:$PWD/deep"
expect_rc 8 "baseline of dir: with a path too long"
[ -s d.dtree ] || die "baseline of dir: wrote no tree (exit $rc)"
cp err d.err
paths_of d.dtree d.txt
cp d.err err
check "dir:" d.txt

mke2fs -q -F -t ext4 -N 2000 -d deep e.img 64M > /dev/null 2>&1 || skip "mke2fs -d cannot copy a tree this deep"
dt baseline --no-progress --no-rows -o e.dtree e.img
expect_rc 8 "baseline of ext4 with a path too long"
[ -s e.dtree ] || die "baseline of ext4 wrote no tree (exit $rc)"
cp err e.err
paths_of e.dtree e.txt
cp e.err err
check "ext4 (libtsk)" e.txt
t_done
