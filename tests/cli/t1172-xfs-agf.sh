#!/bin/bash
# t1172: damaged XFS AG headers read raw. The reader needs nothing from an AGF (free space)
# but verifies every AG's AGF before the walk, with the verifier the AGI shares (magic,
# version, CRC, its AG number, the filesystem's UUID, the AG's length) and the AGF's counts
# within bounds. A flipped byte in an AGF (xfs_db finds a CRC error), an AGF rewritten
# with a valid CRC but a free block count past the AG, a wrong AG number, another
# filesystem's UUID, a wrong version or a wrong length (xfs_repair -n says each is bad): an
# error naming the AG and what was wrong, in `baseline` (exit 8) and as an `error` event of
# `diff`; the walk finished, every entry as the undamaged image has it. The AGI's length is
# checked the same way (with --include-meta, which reads the AGIs). 18 damaged AGFs of 20:
# the first 16 named, then their count (a hostile superblock may claim many AGs).
# Oracle: xfs_db (where the AGF is, its CRC, rewriting fields) and xfs_repair -n.
. "$TOP/tests/cli/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mkfs.xfs xfs_db xfs_repair jq

truncate -s 1600M x.img
mkfs.xfs -q -f -d agcount=20 x.img > /dev/null 2>&1 || die "mkfs.xfs failed"
t_mount x.img fill loop
mkdir fill/d && printf 'one\n' > fill/d/one && printf 'two\n' > fill/two ||
	die "filling the image failed"
_t_umount "$(readlink -f fill)"
xfs_repair -n x.img > /dev/null 2>&1 || die "xfs_repair -n finds the new image bad"

dt_ok baseline --no-progress --include-meta -o clean.dtree x.img
grep -q -E '(^|[ ,])0 errors' err || die "the undamaged image gives errors: $(cat err)"
dt_ok tree export --format jsonl clean.dtree
cp out clean.jsonl

agf_off()
{
	xfs_db -r -c "agf $1" -c stack x.img | sed -n 's/.*byte offset \([0-9]*\),.*/\1/p' | head -1
}

# check WHAT MESSAGE: x.img (damaged) gives MESSAGE in baseline and diff, and the entries
# of the undamaged image.
check()
{
	local what=$1 msg=$2
	xfs_repair -n x.img > /dev/null 2>&1 && fail "$what: xfs_repair -n finds nothing wrong"
	dt baseline --no-progress --include-meta -o d.dtree x.img
	[ "$rc" -eq 8 ] || fail "$what: baseline exited $rc, not 8 (incomplete): $(head -c 1000 err)"
	grep -q -F "$msg" err || fail "$what: no '$msg' in: $(head -c 1000 err)"
	dt_ok tree export --format jsonl d.dtree
	cmp -s clean.jsonl out ||
		fail "$what: the entries differ from the undamaged image's: $(diff clean.jsonl out | head -5)"
	dt diff --no-progress --include-meta -b clean.dtree x.img
	[ "$rc" -eq 8 ] || fail "$what: diff exited $rc, not 8: $(head -c 1000 err)"
	jq -e -s --arg m "$msg" 'any(.[]; .event == "error" and (.message | contains($m)))' out \
		> /dev/null || fail "$what: no error event '$msg' in: $(grep '"error"' out | head -3)"
	[ "$(jq -c 'select(.event == "file")' out | wc -l)" -eq 0 ] ||
		fail "$what: the diff has file events: $(jq -c 'select(.event == "file")' out | head -3)"
}

# A flipped byte (the free block count's) in AG 1's AGF: its CRC is bad.
off=$(($(agf_off 1) + 53))
cp x.img clean.img
printf '\x55' | dd of=x.img bs=1 seek="$off" conv=notrunc status=none
xfs_db -r -c 'agf 1' -c 'print crc' x.img 2>&1 | grep -q 'CRC error detected.*xfs_agf block' ||
	die "xfs_db finds no CRC error in AGF 1"
check "flipped byte" "AG 1: damaged AGF (CRC mismatch)"
cp clean.img x.img

# Fields rewritten through xfs_db (past its verifiers), which makes the CRC right again.
rewrite()
{
	cp clean.img x.img
	xfs_db -x -c "$1" -c "write -d $2" x.img > /dev/null 2>&1 || die "xfs_db -c '$1' -c 'write -d $2' failed"
	xfs_db -r -c "$1" -c 'print crc' x.img 2> /dev/null | grep -q '(correct)' || die "$1: the CRC is not right"
}
len=$(xfs_db -r -c 'agf 2' -c 'print length' x.img | sed 's/.* = //')
rewrite 'agf 2' "freeblks $((len + 1))"
check "free blocks past the AG" \
	"AG 2: damaged AGF (btree levels, free list or free blocks out of bounds)"
rewrite 'agf 3' 'seqno 2'
check "another AG's number" "AG 3: damaged AGF (owner)"
rewrite 'agf 0' "length $((len - 8))"
check "a wrong length" "AG 0: damaged AGF (length)"
rewrite 'agi 1' "length $((len + 8))"
check "a wrong AGI length" "AG 1: damaged AGI (length)"
rewrite 'agf 4' 'uuid 01234567-89ab-cdef-0123-456789abcdef'
check "another filesystem's UUID" "AG 4: damaged AGF (owner)"
rewrite 'agf 5' 'versionnum 2'
check "a wrong version" "AG 5: damaged AGF (magic or version)"

# A flipped byte in AGFs 1 to 18 of 20: AGs 1 to 16 named, the other two counted.
cp clean.img x.img
for ag in $(seq 18); do
	printf '\x55' | dd of=x.img bs=1 seek="$(($(agf_off "$ag") + 53))" conv=notrunc status=none
done
dt baseline --no-progress --include-meta -o d.dtree x.img
[ "$rc" -eq 8 ] || fail "18 AGFs: baseline exited $rc, not 8: $(head -c 1000 err)"
n=$(grep -c 'damaged AGF (CRC mismatch)' err || true)
[ "$n" -eq 16 ] || fail "18 AGFs: $n named, not 16: $(grep AGF err | head -20)"
grep -q 'AG 16: damaged AGF' err && ! grep -q 'AG 17: damaged AGF' err ||
	fail "18 AGFs: not AGs 1 to 16 named: $(grep AGF err | head -20)"
grep -q -F '2 more damaged AGFs not listed' err || fail "18 AGFs: no count of the rest: $(head -c 2000 err)"
dt_ok tree export --format jsonl d.dtree
cmp -s clean.jsonl out || fail "18 AGFs: the entries differ from the undamaged image's"

t_done
