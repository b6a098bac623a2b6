#!/bin/bash
# t0050: the smaller things of issue 8, item 9. A bad option is one message with one prefix;
# `deltair help` says that scan, like diff, exits 0/1 for no delta/delta; the hashdeep list
# names each file it leaves out (on stderr) and its header has the command line and folder,
# as hashdeep writes them; a Timesketch YARA message has no empty "[]" when the rule has no
# tags; --prefix ending in '/' gives no "//"; exFAT's allocation bitmap, up-case table and
# volume label entries are left out like NTFS's $ files (and are in with --include-meta).
# Oracles: mkfs.exfat and fls(1) for what exFAT holds; jq; the strings themselves.
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.exfat fls jq

# One prefix, once.
for cmd in baseline diff scan tree artifacts mount; do
	sub=
	[ "$cmd" = tree ] && sub=info
	[ "$cmd" = artifacts ] && sub=list
	for bad in --bogus -q; do
		dt $cmd $sub $bad x
		expect_rc 2 "$cmd $bad" || continue
		[ "$(head -1 err)" = "deltair: $cmd: unknown option '$bad'" ] ||
			fail "deltair $cmd $bad: $(head -1 err)"
		grep -v "^deltair: $cmd: \|^Try 'deltair $cmd --help'" err &&
			fail "deltair $cmd $bad: a line without the prefix"
	done
done
dt baseline -o
expect_rc 2 "baseline -o (no value)"
[ "$(head -1 err)" = "deltair: baseline: option '-o' needs a value" ] || fail "baseline -o: $(head -1 err)"

# help: scan's 0 and 1.
dt_ok help
grep -E '^ +0 .*scan' out > /dev/null || fail "deltair help: 0 does not mention scan: $(grep -E '^ +0 ' out)"
grep -E '^ +1 .*scan' out > /dev/null || fail "deltair help: 1 does not mention scan: $(grep -E '^ +1 ' out)"
grep -q '128+N' out || fail "deltair help does not say what a signal does"

# hashdeep: the left-out file named, the command line in the header.
mkdir -p tree/etc
printf 'host\n' > tree/etc/hostname
printf 'x\n' > "tree/etc/new
line"
mkext4 tree img 8M
dt_ok baseline --no-rows -o t.dtree img
dt_ok tree export --format hashdeep --prefix /mnt/ev/ t.dtree
grep -qx 'deltair: tree: left out of the hashdeep list (a newline in the name): p0:/etc/new\\x0aline' err ||
	fail "the left-out file is not named: $(cat err)"
grep -qx "## Invoked from: $PWD" out || fail "hashdeep header: no 'Invoked from': $(head -5 out)"
grep -qx '## \$ deltair tree export --format hashdeep --prefix /mnt/ev/ t.dtree' out ||
	fail "hashdeep header: not the command line: $(head -5 out)"
grep -q '^5,.*,/mnt/ev/etc/hostname$' out || fail "hashdeep name with --prefix: $(grep hostname out)"
# A newline in the folder or an argument cannot add a line to the list: the header escapes
# it as \x0a, and a --prefix holding one (it starts every line) is refused.
mkdir "nl
dir"
(cd "nl
dir" && "$DELTAIR" tree export --format hashdeep -o ../nl.txt ../t.dtree) || fail "export from a folder with a newline failed"
grep -qx '## Invoked from: .*/nl\\x0adir' nl.txt || fail "hashdeep header: the folder not escaped: $(head -5 nl.txt)"
grep -v -E '^(%%%%|## |[0-9]+,[0-9a-f]{64},)' nl.txt && fail "a line that is no header nor row: $(cat nl.txt)"
dt tree export --format hashdeep --prefix "/mnt/a
b" t.dtree
expect_rc 2 "--prefix with a newline"
grep -q "must not hold a newline" err || fail "--prefix with a newline: $(cat err)"

# bodyfile --prefix with a trailing slash.
dt_ok tree export --format bodyfile --prefix /mnt/ev/ t.dtree
grep -q '//' out && fail "--prefix /mnt/ev/ doubled a slash: $(grep '//' out | head -3)"
grep -q '^0|/mnt/ev/etc/hostname|' out || fail "bodyfile name with --prefix: $(grep hostname out)"

# Timesketch: a rule without tags, no "[]".
cp -a tree tree2
printf 'MARKER-t0050\n' > tree2/etc/planted
mkext4 tree2 img2 8M
printf 'rule t0050_marker { strings: $a = "MARKER-t0050" condition: $a }\n' > r.yar
dt scan --no-progress --no-artifacts --no-rows -r r.yar -b t.dtree -f timesketch img2
expect_rc 1 "scan -f timesketch"
msg=$(jq -r 'select(.data_type == "yara:match") | .message' out)
[ -n "$msg" ] || fail "no YARA line in the Timesketch output"
case $msg in *"[]"*) fail "empty [] in the Timesketch message: $msg" ;; esac

# exFAT's metadata entries. fls(1) says what libtsk sees; deltair leaves out the same names.
truncate -s 8M ex.img
mkfs.exfat -L T0050LBL ex.img > /dev/null 2>&1 || skip "mkfs.exfat failed"
fls ex.img > fls.txt
for n in '$ALLOC_BITMAP' '$UPCASE_TABLE' 'T0050LBL (Volume Label Entry)'; do
	grep -qF "$n" fls.txt || skip "this libtsk does not list '$n' on exFAT: $(cat fls.txt)"
done
dt_ok baseline --no-rows -o ex.dtree ex.img
dt_ok tree export --format bodyfile ex.dtree
[ "$(grep -v '^#' out | cut -d'|' -f2)" = / ] || fail "exFAT metadata listed as files: $(cat out)"
# libtsk cannot read the content of exFAT's $FAT1 entry: the run says it is incomplete (8).
dt baseline --no-rows --include-meta -o ex2.dtree ex.img
[ "$rc" -eq 0 ] || [ "$rc" -eq 8 ] || die "baseline --include-meta exited $rc: $(head -c 2000 err)"
dt_ok tree export --format bodyfile ex2.dtree
for n in '/$ALLOC_BITMAP' '/$UPCASE_TABLE' '/T0050LBL (Volume Label Entry)'; do
	cut -d'|' -f2 out | grep -qxF "$n" || fail "--include-meta: '$n' missing: $(cat out)"
done
t_done
