#!/bin/bash
# t0020: the main paths (baseline, diff, scan with YARA, rows and extraction, tree export)
# run clean under valgrind: no invalid access, no use of uninitialised memory, no definite
# leak of ours (libtsk's own probe leaks are suppressed in tests/valgrind.supp).
# Oracle: valgrind memcheck.
. "$TOP/tests/cli/lib.sh"
need valgrind mke2fs debugfs
# An ASan build (make check SAN=1) cannot run under valgrind; it is checked by ASan itself.
if nm -D "$DELTAIR" 2>/dev/null | grep -q __asan_init || grep -q __asan_init "$DELTAIR"; then
	skip "ASan build: valgrind cannot run it"
fi

mkdir -p tree/etc tree/var/www tree/usr/bin
printf 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n' > tree/etc/passwd
printf 'root:x:0:\n' > tree/etc/group
printf '<?php echo 1; ?>\n' > tree/var/www/index.php
cp /usr/bin/true tree/usr/bin/
mkext4 tree gold.img 16M
cp gold.img incident.img
debugfs -w -R "write /dev/null /etc/ld.so.preload" incident.img > /dev/null 2>&1 ||
	skip "debugfs cannot write the image"
printf '<?php system($_REQUEST["c"]); ?>\n' > shell.php
debugfs -w -R "write shell.php /var/www/shell.php" incident.img > /dev/null 2>&1

# vg RC ARGS...: deltair ARGS under valgrind must exit RC (99 is valgrind's own finding; any
# other status, a signal included, is deltair failing under it).
vg() {
	local want=$1 r=0
	shift
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--suppressions="$TOP/tests/valgrind.supp" "$DELTAIR" "$@" > vg.out 2> vg.err || r=$?
	if [ "$r" -eq 99 ]; then
		fail "valgrind found errors in deltair $*: $(grep -m 20 '==' vg.err)"
	elif [ "$r" -ne "$want" ]; then
		fail "deltair $* under valgrind exited $r, want $want: $(head -c 1000 vg.err)"
	fi
	return 0
}
vg 0 baseline --no-progress -o gold.dtree gold.img
[ -s gold.dtree ] || die "no baseline written"
vg 1 diff --no-progress -b gold.dtree incident.img
vg 1 scan --no-progress -b gold.dtree -x ex incident.img
grep -q '"event":"yara"' vg.out || fail "scan under valgrind found no YARA match on the webshell"
vg 0 tree export --format jsonl gold.dtree
vg 0 tree info gold.dtree
t_done
