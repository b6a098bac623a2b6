#!/bin/bash
# t0040: a command stopped by SIGINT, SIGTERM or SIGHUP removes its temporary files and
# exits 128+signal (issue 8, item 2). diff and scan open their -o output (a temporary name
# beside it) before they read the evidence; the evidence here is a FIFO that nobody writes
# to, so each run waits there, with its temporary file present, until the signal.
# Oracles: the shell's exit status of the child, ls(1) of the output folder.
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfifo python3 timeout

mkdir -p tree/etc
printf 'host\n' > tree/etc/hostname
mkext4 tree img 8M
dt_ok baseline --no-rows -o gold.dtree img
mkfifo never

# Background jobs of a script start with SIGINT ignored, and deltair keeps an ignored
# signal ignored (as nohup wants): start it with every signal at its default.
run_bg()
{
	python3 -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$DELTAIR" "$@" > /dev/null 2> err &
	pid=$!
}

# wait_for GLOB: until a file matching GLOB is in out/ (10 s at most).
wait_for()
{
	local i
	for ((i = 0; i < 100; i++)); do
		compgen -G "$1" > /dev/null && return 0
		sleep 0.1
	done
	return 1
}

n=0
for sig in INT TERM HUP; do
	for cmd in "diff -b gold.dtree" "scan --no-rules --no-artifacts -b gold.dtree" \
		"scan --no-rules --no-artifacts -f bodyfile -b gold.dtree"; do
		n=$((n + 1))
		rm -rf out && mkdir out
		# shellcheck disable=SC2086
		run_bg $cmd -o out/res$n never
		wait_for "out/.res$n.*" || fail "$cmd: no temporary file to start with: $(ls -A out)"
		kill -s "$sig" "$pid"
		rc=0
		timeout 20 tail --pid="$pid" -f /dev/null || fail "$cmd: still running after SIG$sig"
		wait "$pid" || rc=$?
		want=$((128 + $(kill -l "$sig")))
		[ "$rc" -eq "$want" ] || fail "$cmd stopped by SIG$sig: exit $rc, want $want"
		[ -z "$(ls -A out)" ] || fail "$cmd stopped by SIG$sig left: $(ls -A out)"
	done
done

# baseline: the same exit status (its temporary file exists only while it saves).
rm -rf out && mkdir out
run_bg baseline --no-rows -o out/x.dtree never
sleep 0.5
kill -s TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 143 ] || fail "baseline stopped by SIGTERM: exit $rc, want 143"
[ -z "$(ls -A out)" ] || fail "baseline stopped by SIGTERM left: $(ls -A out)"
t_done
