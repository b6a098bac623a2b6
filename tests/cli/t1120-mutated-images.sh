#!/bin/bash
# t1120: damaged ext4 images (bytes flipped in the superblock, group descriptors, inode
# table, directory blocks, an extent tree block) never keep deltair busy: baseline and
# diff of each of a fixed set of mutations end within 20 seconds, by exiting (no crash).
# The image holds a 1 TiB sparse file and a 5 GiB one with data at its end, so an inode
# whose size or map is damaged has every chance to ask for unbounded reading.
# Longer runs: tests/fuzz/mutate-images -n 5000 --seed $RANDOM.
# Oracle: the clock and the exit status.
. "$TOP/tests/cli/lib.sh"
need mke2fs dumpe2fs debugfs python3

"$TOP/tests/fuzz/mutate-images" --bin "$DELTAIR" -n 25 --seed 1120 --timeout 20 --keep kept > log 2>&1
rc=$?
cat log
[ $rc -eq 0 ] || fail "some mutated images did not finish (see above; images in $PWD/kept)"
grep -q '^25 mutations, 0 runs did not finish' log || fail "the mutation run did not report"
t_done
