#!/bin/bash
# t1090: a progress line (entries, bytes, rate) goes to stderr when stderr is a terminal,
# and never when it is a file or a pipe, or with --no-progress. Each line starts
# "deltair: CMD: FS:" (FS is "hashing" once the metadata walk is over).
# Oracle: script(1) gives deltair a real pseudo-terminal.
. "$TOP/tests/cli/lib.sh"
need mke2fs script

mkdir -p tree/d
head -c 3000000 /dev/urandom > tree/d/big.bin
printf 'x\n' > tree/small
mkext4 tree img 16M

script -qec "'$DELTAIR' baseline -o tty.dtree img" /dev/null > tty.out 2>&1 < /dev/null
grep -q 'entries, .* MB hashed' tty.out || fail "no progress line on a terminal: $(cat -v tty.out | head -5)"
grep -q $'\r' tty.out || fail "the progress line does not rewrite itself with a carriage return"
# Every progress line has its label, also while hashing after the walk (issue 8).
grep -q $'\e\\[K: ' tty.out && fail "a progress line without its label: $(cat -v tty.out | head -3)"
grep -q $'\e\\[Kdeltair: baseline: \\(p0\\|hashing\\): [0-9]* entries' tty.out ||
	fail "no 'deltair: baseline: FS:' label on the progress line: $(cat -v tty.out | head -3)"
script -qec "'$DELTAIR' baseline --no-progress -o tty2.dtree img" /dev/null > tty2.out 2>&1 < /dev/null
grep -q 'MB hashed,' tty2.out && fail "a progress line despite --no-progress: $(cat -v tty2.out)"
dt_ok baseline -o file.dtree img
grep -q $'\r' err && fail "a progress line on stderr that is a file: $(cat -v err)"
t_done
