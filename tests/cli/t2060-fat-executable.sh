#!/bin/bash
# t2060: on FAT, where libtsk reports mode 0777 for every file, `executable` comes from the
# content alone: an added ELF is flagged, an added text file is not; on ext4 the x bits
# still count.
# Oracle: what mcopy and mke2fs put in (an ELF copied from /usr/bin/true, a text file).
. "$TOP/tests/cli/lib.sh"
need mkfs.vfat mcopy mke2fs jq

truncate -s 40M gold.img
mkfs.vfat -F 32 gold.img > /dev/null || die "mkfs.vfat failed"
printf 'gold\n' > keep.txt
mcopy -i gold.img keep.txt ::/ || die "mcopy failed"
cp gold.img incident.img
printf 'just text\n' > notes.txt
cp /usr/bin/true tool.bin
mcopy -i incident.img notes.txt tool.bin ::/ || die "mcopy failed"
dt_ok baseline --no-progress -o gold.dtree gold.img
dt diff --no-progress -b gold.dtree incident.img
[ "$rc" -eq 1 ] || fail "FAT diff: exit $rc, want 1"
# flags PATH: the flags of PATH's one added event, joined; "none" when there is no such event.
flags()
{
	local f
	f=$(jq -r --arg p "$1" 'select(.event == "file" and .change == "added" and
		(.path | ascii_downcase) == $p) | .flags | join(",")' out)
	[ "$(jq -c --arg p "$1" 'select(.event == "file" and (.path | ascii_downcase) == $p)' out |
		wc -l)" -eq 1 ] || f=none
	printf '%s\n' "$f"
}
[ "$(flags /notes.txt)" = "" ] || fail "a text file on FAT is not one added event without flags: $(flags /notes.txt)"
case ",$(flags /tool.bin)," in *,executable,*) ;; *) fail "an ELF on FAT is not flagged executable: $(flags /tool.bin)" ;; esac

mkdir -p t
printf 'x\n' > t/keep
mkext4 t e.img 8M
dt_ok baseline --no-progress -o e.dtree e.img
debugfs -w -R "write notes.txt /script" e.img > /dev/null 2>&1 || skip "debugfs cannot write"
debugfs -w -R "sif /script mode 0100755" e.img > /dev/null 2>&1
dt diff --no-progress -b e.dtree e.img
expect_rc 1 "ext4 diff"
case ",$(flags /script)," in *,executable,*) ;; *) fail "a 0755 text file on ext4 is not flagged executable: $(flags /script)" ;; esac
t_done
