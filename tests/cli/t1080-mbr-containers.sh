#!/bin/bash
# t1080: an MBR disk with a primary and two logical partitions gives p1, p5 and p6, as Linux
# numbers /dev/sdaN (sfdisk's own listing says where each one is); the same disk converted
# to VMDK and VHD (qemu-img) and acquired as E01 (ewfacquire) reads through libtsk's image
# layer into exactly the entries of the raw disk.
# Oracle: sha256sum of the trees put in each partition; sfdisk -d; qemu-img and ewfacquire.
. "$TOP/tests/cli/lib.sh"
need mke2fs sfdisk jq

for t in a b c; do
	mkdir -p "$t/dir-$t"
	printf 'partition %s\n' "$t" > "$t/name.txt"
	head -c 300000 /dev/urandom > "$t/dir-$t/random.bin"
	ln -s name.txt "$t/link"
	mkext4 "$t" "$t.img" 8M
done

# MBR: p1 primary; p2 extended holding the logical p5 and p6.
truncate -s 40M mbr.img
printf '%s\n' 'label: dos' 'start=2048, size=16384, type=83' 'start=20480, size=61440, type=5' \
	'start=22528, size=16384, type=83' 'start=40960, size=16384, type=83' |
	sfdisk -q mbr.img > /dev/null || die "sfdisk failed"
# Where sfdisk says each partition is, by the number Linux gives it.
declare -A start
while read -r dev s; do
	start[${dev##*mbr.img}]=$s
done < <(sfdisk -d mbr.img | sed -n 's/^\(mbr\.img[0-9]*\) : start= *\([0-9]*\),.*/\1 \2/p')
[ "${start[1]:-}" = 2048 ] && [ "${start[5]:-}" = 22528 ] && [ "${start[6]:-}" = 40960 ] ||
	die "sfdisk lists unexpected partitions: $(sfdisk -d mbr.img | tr '\n' ' ')"
for p in 1:a 5:b 6:c; do
	dd if="${p#*:}.img" of=mbr.img bs=512 seek="${start[${p%%:*}]}" conv=notrunc status=none ||
		die "dd failed"
done

for p in p1:a p5:b p6:c; do
	(cd "${p#*:}" && find . -type f -print0 | xargs -0 sha256sum) | while read -r h f; do
		printf '%s\t%s\t%s\n' "${p%%:*}" "${f#.}" "$h"
	done
done | sort > want.tsv

dt_ok baseline --no-progress -o mbr.dtree mbr.img
"$DELTAIR" tree export --format jsonl mbr.dtree > raw.jsonl
jq -r 'select(.type == "file") | [.fs, .path, .sha256] | @tsv' raw.jsonl | sort > got.tsv
diff want.tsv got.tsv > d.txt || fail "MBR disk: files differ from sha256sum of what was put in: $(head -20 d.txt)"
"$DELTAIR" tree info mbr.dtree > info.txt
for n in p1 p5 p6; do
	grep -q "^filesystem: $n ext4" info.txt || fail "tree info does not list $n as ext4: $(cat info.txt)"
done
[ "$(grep -c '^filesystem:' info.txt)" = 3 ] || fail "tree info lists other filesystems: $(cat info.txt)"

# Every entry, not only the files: the containers must read exactly like the raw disk.
checked=0
if command -v qemu-img > /dev/null; then
	for c in vmdk:vmdk vhd:vpc; do
		qemu-img convert -f raw -O "${c#*:}" mbr.img "mbr.${c%%:*}" || die "qemu-img ${c%%:*} failed"
		dt_ok baseline --no-progress -o "${c%%:*}.dtree" "mbr.${c%%:*}"
		"$DELTAIR" tree export --format jsonl "${c%%:*}.dtree" > "${c%%:*}.jsonl"
		cmp -s raw.jsonl "${c%%:*}.jsonl" ||
			fail "${c%%:*}: entries differ from the raw disk's: $(diff raw.jsonl "${c%%:*}.jsonl" | head -5)"
		checked=$((checked + 1))
	done
else
	note "qemu-img is not installed: VMDK and VHD not checked"
fi
if command -v ewfacquire > /dev/null; then
	ewfacquire -u -q -t "$PWD/mbr" -c none -f encase6 mbr.img > ewf.log 2>&1 < /dev/null ||
		die "ewfacquire failed: $(tail -5 ewf.log)"
	dt_ok baseline --no-progress -o e01.dtree mbr.E01
	"$DELTAIR" tree export --format jsonl e01.dtree > e01.jsonl
	cmp -s raw.jsonl e01.jsonl || fail "E01: entries differ from the raw disk's: $(diff raw.jsonl e01.jsonl | head -5)"
	checked=$((checked + 1))
else
	note "ewfacquire is not installed: E01 not checked"
fi
[ "$checked" -gt 0 ] || note "no container format checked"
t_done
