#!/bin/bash
# t0010: help, --help, version, and misuse. `deltair help` lists the commands and the exit
# status table; every command's --help prints its usage on stdout and exits 0; misuse exits
# 2 with nothing on stdout and a pointer to the usage on stderr, and writes no file.
# "Every command" is every row of the command table in src/cli/main.c (the oracle), so a
# command added there is covered here without editing this test.
. "$TOP/tests/cli/lib.sh"

mapfile -t CMDS < <(sed -n 's/^\t{ "\([a-z-]*\)", cmd_.*/\1/p' "$TOP/src/cli/main.c")
[ ${#CMDS[@]} -ge 8 ] || die "found ${#CMDS[@]} commands in src/cli/main.c: ${CMDS[*]}"

dt help
expect_rc 0 "deltair help"
cp out help.txt
for c in "${CMDS[@]}" baseline diff scan artifacts tree mount help version; do
	grep -q -E "^ +$c( |$)" help.txt || fail "deltair help does not list the command '$c'"
done
[ "$(sed -n '/^Commands:/,/^$/p' help.txt | grep -c -E '^  [a-z]')" -eq ${#CMDS[@]} ] ||
	fail "deltair help lists other commands than src/cli/main.c's table (${CMDS[*]})"
for s in 0 1 2 3 4 5 6 70; do
	grep -q -E "^ *$s +[A-Za-z.]" help.txt || fail "deltair help has no exit status line for $s"
done
[ ! -s err ] || fail "deltair help wrote on stderr: $(cat err)"

dt version
expect_rc 0 "deltair version"
grep -q -x -E 'deltair [0-9]+\.[0-9]+\.[0-9]+' out || fail "deltair version printed: $(cat out)"

usage_ok()
{
	dt "$@"
	expect_rc 0 "deltair $*" || return
	grep -q -i '^usage: deltair' out || fail "deltair $* does not print a usage on stdout: $(head -3 out)"
	[ ! -s err ] || fail "deltair $* wrote on stderr: $(cat err)"
}
usage_ok --help
for c in "${CMDS[@]}"; do
	usage_ok "$c" --help
	usage_ok "$c" -h
done
usage_ok tree info --help
usage_ok tree export --help
usage_ok artifacts list --help
usage_ok artifacts resolve --help

# Each command's usage names its options from the contract.
dt baseline --help
for o in --offset --include-meta --threads --no-progress -o; do
	grep -q -- "$o" out || fail "baseline --help does not mention $o"
done
dt diff --help
for o in --baseline -o --offset --include-meta --threads; do
	grep -q -- "$o" out || fail "diff --help does not mention $o"
done
dt tree --help
for o in info export --format jsonl hashdeep bodyfile; do
	grep -q -- "$o" out || fail "tree --help does not mention $o"
done
dt scan --help
for o in --baseline --rules --artifacts --no-rules --no-artifacts --no-rows --extract \
	--max-size --timeout --format -o --offset --threads; do
	grep -q -- "$o" out || fail "scan --help does not mention $o"
done
dt mount --help
for o in --baseline --delta --fs --foreground --allow-other --offset; do
	grep -q -- "$o" out || fail "mount --help does not mention $o"
done
dt artifacts --help
for o in list resolve --artifacts --all --json --offset; do
	grep -q -- "$o" out || fail "artifacts --help does not mention $o"
done

misuse()
{
	dt "$@"
	expect_rc 2 "deltair $*" || return
	[ ! -s out ] || fail "deltair $* (misuse) printed on stdout: $(head -3 out)"
	grep -q -i -E 'usage|--help|deltair help' err || fail "deltair $* (misuse): no pointer to the usage on stderr: $(cat err)"
	grep -q '^deltair' err || fail "deltair $* (misuse): stderr has no 'deltair...' line: $(cat err)"
}
printf 'not an image\n' > some.img
misuse
misuse bogus
misuse --bogus
misuse baseline --bogus -o x.dtree some.img
misuse baseline some.img
misuse baseline -o x.dtree
misuse baseline -o x.dtree some.img extra.img
misuse baseline --threads abc -o x.dtree some.img
misuse baseline --threads 0 -o x.dtree some.img
misuse baseline --offset -5 -o x.dtree some.img
misuse baseline --offset 12abc -o x.dtree some.img
misuse diff
misuse diff one.dtree
misuse diff a.dtree b.dtree c.dtree
misuse diff --baseline
misuse diff --baseline a.dtree
misuse diff --baseline a.dtree b.img c.img
misuse diff --bogus a.dtree b.dtree
misuse tree
misuse tree bogus
misuse tree info
misuse tree info a.dtree b.dtree
misuse tree export a.dtree
misuse tree export --format xml a.dtree
misuse tree export --format jsonl
misuse help bogus-topic-with-extra args
# Every command but help and version (which take nothing) with no arguments, and with an
# unknown option.
for c in "${CMDS[@]}"; do
	case $c in help | version) ;; *) misuse "$c" ;; esac
	misuse "$c" --bogus
done
misuse scan --baseline a.dtree
misuse scan --baseline a.dtree some.img extra.img
misuse scan --max-size abc --baseline a.dtree some.img
misuse mount some.img
misuse mount some.img mnt extra
misuse mount --delta some.img mnt
misuse artifacts bogus
misuse artifacts resolve
misuse artifacts list extra
[ -z "$(ls -A | grep -v -x -E 'out|err|help.txt|some.img')" ] ||
	fail "misuse left files: $(ls -A | tr '\n' ' ')"
t_done
